-- Average age in days of the items on hand.
select round(avg(days_in_stock), 1) as avg_days_in_stock
from analytics.metabase_inventory_status
where in_stock
  [[and {{stock_category}}]]
  [[and {{supplier}}]]
