-- One row per brand with at least one sale: performance, share and positioning, from the
-- stored cells per product and supplier (analytics.sales_by_product_supplier) and per
-- brand and month (analytics.sales_by_brand_month).
-- Thresholds for price positioning and volume tier: analytics.classification_threshold.
with per_brand as (
    select c.brand_id,
           sum(c.orders)::bigint              as total_orders,
           sum(c.units)::bigint               as units_sold,
           sum(c.revenue)                     as total_revenue,
           round(sum(c.revenue) / sum(c.orders), 2) as avg_sale_price,
           -- var_samp from the sums, as PostgreSQL computes it
           round(coalesce((sum(c.orders) * sum(c.revenue_squared) - sum(c.revenue) * sum(c.revenue))
                          / nullif(sum(c.orders) * (sum(c.orders) - 1), 0), 0), 2)
                                              as price_variance,
           sum(c.profit)                      as total_profit,
           round(sum(c.roi_sum) / nullif(sum(c.roi_count), 0), 2) as avg_roi,
           count(distinct c.product_id)       as product_variety,
           (select count(*) from analytics.sales_by_brand_month m where m.brand_id = c.brand_id)
                                              as active_months
    from analytics.sales_by_product_supplier c
    group by c.brand_id
),
thresholds as (
    select max(value) filter (where name = 'premium_min_avg_price')             as premium,
           max(value) filter (where name = 'mid_range_min_avg_price')           as mid_range,
           max(value) filter (where name = 'high_volume_min_sales_share_pct')   as high_volume,
           max(value) filter (where name = 'medium_volume_min_sales_share_pct') as medium_volume
    from analytics.classification_threshold
),
shared as (
    select pb.*,
           round(100 * pb.total_revenue / nullif(sum(pb.total_revenue) over (), 0), 4)
                                                          as market_share_pct,
           round(100 * pb.units_sold::numeric / nullif(sum(pb.units_sold) over (), 0), 4)
                                                          as sales_share_pct
    from per_brand pb
)
select
    s.brand_id,
    coalesce(b.name, 'Unknown')                 as brand_name,
    coalesce(b.segment, 'Unknown')              as brand_segment,
    coalesce(b.price_tier, 'Unknown')           as brand_price_tier,
    coalesce(b.target_demographic, 'Unknown')   as target_demographic,
    coalesce(b.is_collaboration, false)         as is_collaboration,
    b.parent_brand_id,
    parent.name                                 as parent_brand_name,
    s.total_orders,
    s.units_sold,
    s.total_revenue,
    s.avg_sale_price,
    s.price_variance,
    s.total_profit,
    s.avg_roi,
    s.product_variety,
    s.active_months,
    s.market_share_pct,
    s.sales_share_pct,
    case when s.avg_sale_price >= t.premium then 'Premium'
         when s.avg_sale_price >= t.mid_range then 'Mid-Range'
         else 'Entry-Level' end                 as price_positioning,
    case when s.sales_share_pct >= t.high_volume then 'High'
         when s.sales_share_pct >= t.medium_volume then 'Medium'
         else 'Low' end                         as volume_tier
from shared s
cross join thresholds t
left join catalog.brand b on b.id = s.brand_id
left join catalog.brand parent on parent.id = b.parent_brand_id
