-- One row per supplier (stock without one, and orders without a stock item, are the
-- Unknown supplier): purchasing, sell-through, revenue and what is left unsold.
with sales_per_item as (
    select inventory_id, min(sale_date) as first_sale_date
    from analytics.order_facts_live
    where inventory_id is not null
    group by inventory_id
),
purchasing as (
    select s.supplier_id,
           count(*)                                              as total_purchases,
           sum(coalesce(s.purchase_price, 0) * s.quantity)       as total_spent,
           round(avg(s.purchase_price), 2)                       as avg_purchase_price,
           count(distinct s.product_id)                          as unique_products,
           count(distinct s.brand_id)                            as unique_brands,
           count(sp.inventory_id)                                as items_sold,
           round(avg(sp.first_sale_date - s.purchase_date::date), 1) as avg_days_to_sell,
           coalesce(sum(s.quantity) filter (where s.in_stock), 0) as unsold_units,
           coalesce(sum(coalesce(s.purchase_price, 0) * s.quantity) filter (where s.in_stock), 0)
                                                                 as unsold_value
    from analytics.stock_facts_live s
    left join sales_per_item sp on sp.inventory_id = s.inventory_id
    group by s.supplier_id
),
selling as (
    select supplier_id,
           sum(units)          as units_sold,
           sum(revenue)        as total_revenue_generated,
           sum(profit)         as total_profit,
           round(avg(roi), 2)  as avg_roi
    from analytics.order_facts_live
    group by supplier_id
)
select
    coalesce(pu.supplier_id, se.supplier_id)                  as supplier_id,
    coalesce(p.name, 'Unknown')                               as supplier_name,
    p.email                                                   as supplier_email,
    p.phone                                                   as supplier_phone,
    coalesce(p.country, 'Unknown')                            as supplier_country,
    p.rating                                                  as supplier_rating,
    coalesce(pu.total_purchases, 0)                           as total_purchases,
    coalesce(pu.total_spent, 0)                               as total_spent,
    pu.avg_purchase_price,
    coalesce(pu.unique_products, 0)                           as unique_products,
    coalesce(pu.unique_brands, 0)                             as unique_brands,
    coalesce(se.units_sold, 0)                                as units_sold,
    round(100 * coalesce(pu.items_sold, 0)::numeric / nullif(pu.total_purchases, 0), 2)
                                                              as sell_through_rate,
    coalesce(se.total_revenue_generated, 0)                   as total_revenue_generated,
    coalesce(se.total_profit, 0)                              as total_profit,
    se.avg_roi,
    pu.avg_days_to_sell,
    coalesce(pu.unsold_units, 0)                              as unsold_units,
    coalesce(pu.unsold_value, 0)                              as unsold_value
from purchasing pu
full join selling se on se.supplier_id = pu.supplier_id
left join supplier.profile p on p.id = coalesce(pu.supplier_id, se.supplier_id)
