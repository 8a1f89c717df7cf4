-- Lifetime comparison of the marketplaces: volume, costs, profitability, payouts, reach.
select
    platform_name,
    total_orders,
    total_revenue,
    avg_order_value,
    total_fees,
    fee_pct,
    total_shipping_costs,
    total_net_proceeds,
    total_profit,
    profit_margin_pct,
    avg_roi,
    payouts_received,
    avg_payout_days,
    countries_served,
    cities_served
from analytics.metabase_platform_performance
where true
  [[and {{platform}}]]
order by total_revenue desc, platform_name
