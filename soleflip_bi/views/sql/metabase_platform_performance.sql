-- One row per marketplace: volume, revenue, costs, profitability, payouts, reach.
select
    f.platform_id,
    f.platform_name,
    f.platform_slug,
    count(*)                                                   as total_orders,
    sum(f.units)                                               as units_sold,
    count(distinct f.sale_month)                               as active_months,
    sum(f.revenue)                                             as total_revenue,
    round(avg(f.revenue), 2)                                   as avg_order_value,
    min(f.revenue)                                             as min_order_value,
    max(f.revenue)                                             as max_order_value,
    sum(f.fees)                                                as total_fees,
    round(avg(f.fees), 2)                                      as avg_fee,
    round(100 * sum(f.fees) / nullif(sum(f.revenue), 0), 2)    as fee_pct,
    sum(f.shipping)                                            as total_shipping_costs,
    sum(f.net_proceeds)                                        as total_net_proceeds,
    sum(f.profit)                                              as total_profit,
    round(avg(f.roi), 2)                                       as avg_roi,
    round(100 * sum(f.profit) / nullif(sum(f.revenue), 0), 2)  as profit_margin_pct,
    count(*) filter (where f.payout_received)                  as payouts_received,
    round(avg(f.payout_days) filter (where f.payout_received), 1) as avg_payout_days,
    count(distinct f.country) filter (where f.country <> 'Unknown') as countries_served,
    count(distinct (f.country, f.city)) filter (where f.city <> 'Unknown') as cities_served
from analytics.order_facts f
group by f.platform_id, f.platform_name, f.platform_slug
