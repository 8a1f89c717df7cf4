-- Every product with a sale (selected by the filters), with all its metrics.
select
    product_name,
    sku,
    brand_name,
    category_name,
    units_sold,
    total_revenue,
    avg_sale_price,
    min_sale_price,
    max_sale_price,
    price_volatility,
    total_profit,
    avg_roi,
    total_fees,
    avg_purchase_price,
    supplier_count,
    first_sale_date,
    last_sale_date,
    sales_duration_days
from analytics.metabase_product_performance
where true
  [[and {{date_range}}]]
  [[and {{brand}}]]
order by total_revenue desc, product_id
