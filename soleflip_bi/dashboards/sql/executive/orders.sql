-- Sales (orders counted by the one definition of a sale) in the date range.
select coalesce(sum(total_orders), 0) as total_orders
from analytics.metabase_executive_metrics
where true
  [[and {{date_range}}]]
