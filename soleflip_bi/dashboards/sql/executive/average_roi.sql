-- Average ROI (%) in the date range: the per-day-and-platform averages weighted by their
-- orders (sales of stock with an unknown purchase price have no ROI and are left out).
select round(sum(avg_roi * total_orders) / nullif(sum(total_orders), 0), 2) as avg_roi
from analytics.metabase_executive_metrics
where avg_roi is not null
  [[and {{date_range}}]]
