-- Average age in days of the items on hand.
select round(sum(days_in_stock_sum)::numeric / nullif(sum(items), 0), 1) as avg_days_in_stock
from analytics.metabase_inventory_overview
where in_stock
  [[and {{stock_category}}]]
  [[and {{supplier}}]]
