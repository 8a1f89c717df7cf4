-- Items on hand per product category.
select category_name, count(*) as items
from analytics.metabase_inventory_status
where in_stock
  [[and {{stock_category}}]]
  [[and {{supplier}}]]
group by category_name
order by items desc, category_name
