-- One row per product with at least one sale (orders without a stock item: Unknown).
-- Aggregated from the stored cells per product and supplier
-- (analytics.sales_by_product_supplier); the price volatility is the sample standard
-- deviation from the sums.
with product_dims as (
    select p.id as product_id, b.name as brand_name, b.segment, b.price_tier,
           b.is_collaboration
    from catalog.product p
    left join catalog.brand b on b.id = p.brand_id
)
select
    s.product_id,
    max(s.product_name)                                 as product_name,
    max(s.sku)                                          as sku,
    max(s.category_name)                                as category_name,
    s.brand_id,
    coalesce(max(d.brand_name), 'Unknown')              as brand_name,
    coalesce(max(d.segment), 'Unknown')                 as brand_segment,
    coalesce(max(d.price_tier), 'Unknown')              as brand_price_tier,
    coalesce(bool_or(d.is_collaboration), false)        as is_collaboration,
    sum(s.orders)                                       as total_orders,
    sum(s.units)                                        as units_sold,
    sum(s.revenue)                                      as total_revenue,
    round(sum(s.revenue) / sum(s.orders), 2)            as avg_sale_price,
    min(s.min_revenue)                                  as min_sale_price,
    max(s.max_revenue)                                  as max_sale_price,
    round(coalesce(sqrt(greatest(
        (sum(s.revenue_squared) - sum(s.revenue) * sum(s.revenue) / sum(s.orders))
        / nullif(sum(s.orders) - 1, 0), 0)), 0), 2)     as price_volatility,
    sum(s.profit)                                       as total_profit,
    round(sum(s.roi_sum) / nullif(sum(s.roi_count), 0), 2) as avg_roi,
    sum(s.fees)                                         as total_fees,
    round(sum(s.purchase_sum) / nullif(sum(s.purchase_count), 0), 2) as avg_purchase_price,
    count(*) filter (where s.supplier_id <> analytics.unknown_id()) as supplier_count,
    min(s.first_sale_date)                              as first_sale_date,
    max(s.last_sale_date)                               as last_sale_date,
    max(s.last_sale_date) - min(s.first_sale_date)      as sales_duration_days
from analytics.sales_by_product_supplier s
left join product_dims d on d.product_id = s.product_id
group by s.product_id, s.brand_id
