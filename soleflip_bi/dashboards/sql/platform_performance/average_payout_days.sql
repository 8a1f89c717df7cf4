-- Days from sale to payout, averaged over every payout received (the platforms' own
-- averages weighted by their payouts).
select round(sum(avg_payout_days * payouts_received) / nullif(sum(payouts_received), 0), 1)
           as avg_payout_days
from analytics.metabase_platform_performance
where avg_payout_days is not null
  [[and {{platform}}]]
