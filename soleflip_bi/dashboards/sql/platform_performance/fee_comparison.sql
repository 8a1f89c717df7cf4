-- Fees and shipping as a percentage of revenue, per marketplace.
select
    platform_name,
    round(100 * sum(total_fees) / nullif(sum(total_revenue), 0), 2)           as fee_pct,
    round(100 * sum(total_shipping_costs) / nullif(sum(total_revenue), 0), 2) as shipping_pct
from analytics.metabase_executive_metrics
where true
  [[and {{date_range}}]]
  [[and {{platform}}]]
group by platform_name
order by fee_pct desc nulls last, platform_name
