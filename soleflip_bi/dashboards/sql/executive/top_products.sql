-- The ten products with the highest lifetime revenue.
select
    product_name,
    brand_name,
    sku,
    units_sold,
    total_revenue,
    total_profit,
    avg_roi
from analytics.metabase_product_performance
order by total_revenue desc, product_id
limit 10
