-- Per platform, sale month and buyer city (by name key, analytics.name_key): the cells the
-- platform comparison sums and counts distinct over.
select platform_id, sale_month, country_key, city_key, platform_name, platform_slug,
       count(*)                                       as orders,
       sum(units)                                     as units,
       sum(revenue)                                   as revenue,
       min(revenue)                                   as min_revenue,
       max(revenue)                                   as max_revenue,
       sum(fees)                                      as fees,
       sum(shipping)                                  as shipping,
       sum(net_proceeds)                              as net_proceeds,
       sum(profit)                                    as profit,
       sum(roi)                                       as roi_sum,
       count(roi)                                     as roi_count,
       count(*) filter (where payout_received)        as payouts,
       sum(payout_days) filter (where payout_received)   as payout_days_sum,
       count(payout_days) filter (where payout_received) as payout_days_count
from facts
group by platform_id, sale_month, country_key, city_key, platform_name, platform_slug
