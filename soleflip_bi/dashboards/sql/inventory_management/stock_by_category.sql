-- Items on hand per product category.
select category_name, sum(items) as items
from analytics.metabase_inventory_overview
where in_stock
  [[and {{stock_category}}]]
  [[and {{supplier}}]]
group by category_name
order by items desc, category_name
