-- Revenue and what is left of it after fees and shipping, per marketplace.
select
    platform_name,
    sum(total_revenue)      as total_revenue,
    sum(total_net_proceeds) as total_net_proceeds
from analytics.metabase_executive_metrics
where true
  [[and {{date_range}}]]
  [[and {{platform}}]]
group by platform_name
order by total_revenue desc, platform_name
