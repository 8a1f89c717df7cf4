-- Revenue of the sales in the dashboard's date range (default: the past 30 days).
select coalesce(sum(total_revenue), 0) as total_revenue
from analytics.metabase_executive_metrics
where true
  [[and {{date_range}}]]
