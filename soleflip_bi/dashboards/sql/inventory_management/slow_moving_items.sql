-- Items on hand in the Slow Moving category.
select count(*) as slow_moving_items
from analytics.metabase_inventory_status
where in_stock
  and stock_category = 'Slow Moving'
  [[and {{supplier}}]]
