-- Per supplier: items bought and sold, sell-through, revenue and profit of its sales (from
-- the stored cells analytics.stock_by_supplier_product and analytics.sales_by_product_supplier).
with purchasing as (
    select supplier_id,
           sum(purchases)::bigint  as items_purchased,
           sum(items_sold)::bigint as items_sold
    from analytics.stock_by_supplier_product
    group by supplier_id
),
selling as (
    select supplier_id, sum(revenue) as total_revenue, sum(profit) as total_profit
    from analytics.sales_by_product_supplier
    group by supplier_id
)
select
    coalesce(pu.supplier_id, se.supplier_id)          as supplier_id,
    coalesce(p.name, 'Unknown')                       as supplier_name,
    coalesce(pu.items_purchased, 0)                   as items_purchased,
    coalesce(pu.items_sold, 0)                        as items_sold,
    round(100 * coalesce(pu.items_sold, 0)::numeric / nullif(pu.items_purchased, 0), 2)
                                                      as sell_through_rate,
    coalesce(se.total_revenue, 0)                     as total_revenue,
    coalesce(se.total_profit, 0)                      as total_profit
from purchasing pu
full join selling se on se.supplier_id = pu.supplier_id
left join supplier.profile p on p.id = coalesce(pu.supplier_id, se.supplier_id)
