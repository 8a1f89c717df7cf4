-- Sales in the date range on the chosen marketplaces.
select coalesce(sum(total_orders), 0) as total_orders
from analytics.metabase_executive_metrics
where true
  [[and {{date_range}}]]
  [[and {{platform}}]]
