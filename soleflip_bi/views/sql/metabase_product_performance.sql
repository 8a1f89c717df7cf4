-- One row per product with at least one sale (orders without a stock item: Unknown).
with product_dims as (
    select p.id as product_id, b.id as brand_id, b.name as brand_name, b.segment,
           b.price_tier, b.is_collaboration
    from catalog.product p
    left join catalog.brand b on b.id = p.brand_id
)
select
    f.product_id,
    max(f.product_name)                                 as product_name,
    max(f.sku)                                          as sku,
    max(f.category_name)                                as category_name,
    f.brand_id,
    coalesce(max(d.brand_name), 'Unknown')              as brand_name,
    coalesce(max(d.segment), 'Unknown')                 as brand_segment,
    coalesce(max(d.price_tier), 'Unknown')              as brand_price_tier,
    coalesce(bool_or(d.is_collaboration), false)        as is_collaboration,
    count(*)                                            as total_orders,
    sum(f.units)                                        as units_sold,
    sum(f.revenue)                                      as total_revenue,
    round(avg(f.revenue), 2)                            as avg_sale_price,
    min(f.revenue)                                      as min_sale_price,
    max(f.revenue)                                      as max_sale_price,
    round(coalesce(stddev_samp(f.revenue), 0), 2)       as price_volatility,
    sum(f.profit)                                       as total_profit,
    round(avg(f.roi), 2)                                as avg_roi,
    sum(f.fees)                                         as total_fees,
    round(avg(f.purchase_price), 2)                     as avg_purchase_price,
    count(distinct f.supplier_id) filter (where f.supplier_id <> analytics.unknown_id())
                                                        as supplier_count,
    min(f.sale_date)                                    as first_sale_date,
    max(f.sale_date)                                    as last_sale_date,
    max(f.sale_date) - min(f.sale_date)                 as sales_duration_days
from analytics.order_facts f
left join product_dims d on d.product_id = f.product_id
group by f.product_id, f.brand_id
