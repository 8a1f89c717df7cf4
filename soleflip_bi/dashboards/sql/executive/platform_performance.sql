-- Revenue and profit per marketplace in the date range.
select
    platform_name,
    sum(total_revenue) as total_revenue,
    sum(total_profit)  as total_profit
from analytics.metabase_executive_metrics
where true
  [[and {{date_range}}]]
group by platform_name
order by total_revenue desc, platform_name
