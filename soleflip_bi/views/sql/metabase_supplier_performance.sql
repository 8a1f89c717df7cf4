-- One row per supplier (stock without one, and orders without a stock item, are the
-- Unknown supplier): purchasing, sell-through, revenue and what is left unsold.
-- From stored cells: the stock per supplier, product and brand
-- (analytics.stock_by_supplier_product), so that the distinct counts run over those cells
-- instead of every stock item, and the sales per product and supplier
-- (analytics.sales_by_product_supplier).
with purchasing as (
    select supplier_id,
           sum(purchases)::bigint                                as total_purchases,
           sum(spent)                                            as total_spent,
           round(sum(purchase_sum) / nullif(sum(purchase_count), 0), 2) as avg_purchase_price,
           count(distinct product_id)                            as unique_products,
           count(distinct brand_id)                              as unique_brands,
           sum(items_sold)::bigint                               as items_sold,
           round(sum(days_to_sell_sum)::numeric / nullif(sum(days_to_sell_count), 0), 1)
                                                                 as avg_days_to_sell,
           coalesce(sum(unsold_units), 0)::bigint                as unsold_units,
           coalesce(sum(unsold_value), 0)                        as unsold_value
    from analytics.stock_by_supplier_product
    group by supplier_id
),
selling as (
    select supplier_id,
           sum(units)::bigint                                    as units_sold,
           sum(revenue)                                          as total_revenue_generated,
           sum(profit)                                           as total_profit,
           round(sum(roi_sum) / nullif(sum(roi_count), 0), 2)    as avg_roi
    from analytics.sales_by_product_supplier
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
