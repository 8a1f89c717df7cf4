-- Every item on hand, the oldest first.
select
    sku,
    product_name,
    brand_name,
    category_name,
    us_size,
    condition,
    status,
    location,
    supplier_name,
    purchase_price,
    purchase_date,
    days_in_stock,
    stock_category,
    current_inventory_value
from analytics.metabase_inventory_status
where in_stock
  [[and {{stock_category}}]]
  [[and {{supplier}}]]
order by days_in_stock desc, inventory_id desc
limit 2000  -- Metabase shows at most 2,000 rows of a table card
