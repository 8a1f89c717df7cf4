-- Marketplace fee per sale (EUR) in the date range.
select round(sum(total_fees) / nullif(sum(total_orders), 0), 2) as avg_fee
from analytics.metabase_executive_metrics
where true
  [[and {{date_range}}]]
  [[and {{platform}}]]
