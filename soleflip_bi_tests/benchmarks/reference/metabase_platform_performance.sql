-- One row per marketplace: volume, revenue, costs, profitability, payouts, reach.
-- Aggregated in two steps (per platform, month and city first; names by their key,
-- analytics.name_key) so that the distinct counts run over thousands of cells instead of
-- every order.
with cells as (
    select f.platform_id, f.platform_name, f.platform_slug, f.sale_month, f.country_key,
           f.city_key,
           count(*)                                       as orders,
           sum(f.units)                                   as units,
           sum(f.revenue)                                 as revenue,
           min(f.revenue)                                 as min_revenue,
           max(f.revenue)                                 as max_revenue,
           sum(f.fees)                                    as fees,
           sum(f.shipping)                                as shipping,
           sum(f.net_proceeds)                            as net_proceeds,
           sum(f.profit)                                  as profit,
           sum(f.roi)                                     as roi_sum,
           count(f.roi)                                   as roi_count,
           count(*) filter (where f.payout_received)      as payouts,
           sum(f.payout_days) filter (where f.payout_received)   as payout_days_sum,
           count(f.payout_days) filter (where f.payout_received) as payout_days_count
    from analytics.order_facts_live f
    group by f.platform_id, f.platform_name, f.platform_slug, f.sale_month, f.country_key,
             f.city_key
)
select
    c.platform_id,
    c.platform_name,
    c.platform_slug,
    sum(c.orders)                                              as total_orders,
    sum(c.units)                                               as units_sold,
    count(distinct c.sale_month)                               as active_months,
    sum(c.revenue)                                             as total_revenue,
    round(sum(c.revenue) / sum(c.orders), 2)                   as avg_order_value,
    min(c.min_revenue)                                         as min_order_value,
    max(c.max_revenue)                                         as max_order_value,
    sum(c.fees)                                                as total_fees,
    round(sum(c.fees) / sum(c.orders), 2)                      as avg_fee,
    round(100 * sum(c.fees) / nullif(sum(c.revenue), 0), 2)    as fee_pct,
    sum(c.shipping)                                            as total_shipping_costs,
    sum(c.net_proceeds)                                        as total_net_proceeds,
    sum(c.profit)                                              as total_profit,
    round(sum(c.roi_sum) / nullif(sum(c.roi_count), 0), 2)     as avg_roi,
    round(100 * sum(c.profit) / nullif(sum(c.revenue), 0), 2)  as profit_margin_pct,
    sum(c.payouts)                                             as payouts_received,
    round(sum(c.payout_days_sum)::numeric / nullif(sum(c.payout_days_count), 0), 1)
                                                               as avg_payout_days,
    count(distinct c.country_key) filter (where c.country_key <> 'unknown') as countries_served,
    count(distinct (c.country_key, c.city_key)) filter (where c.city_key <> 'unknown')
                                                               as cities_served
from cells c
group by c.platform_id, c.platform_name, c.platform_slug
