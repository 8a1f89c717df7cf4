-- Revenue in the date range on the chosen marketplaces.
select coalesce(sum(total_revenue), 0) as total_revenue
from analytics.metabase_executive_metrics
where true
  [[and {{date_range}}]]
  [[and {{platform}}]]
