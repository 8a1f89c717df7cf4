-- Items on hand in the Slow Moving category.
select coalesce(sum(items), 0) as slow_moving_items
from analytics.metabase_inventory_overview
where in_stock
  and stock_category = 'Slow Moving'
  [[and {{supplier}}]]
