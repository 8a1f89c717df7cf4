-- Profit of the sales in the dashboard's date range.
select coalesce(sum(total_profit), 0) as total_profit
from analytics.metabase_executive_metrics
where true
  [[and {{date_range}}]]
