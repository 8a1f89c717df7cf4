-- Per sale date and platform: the additive figures of the executive metrics and the
-- daily sales summary (averages are kept as sums and counts).
select sale_date, platform_id, platform_name, platform_slug, sale_month,
       count(*)            as orders,
       sum(units)          as units,
       sum(revenue)        as revenue,
       sum(net_proceeds)   as net_proceeds,
       sum(profit)         as profit,
       sum(roi)            as roi_sum,
       count(roi)          as roi_count,
       sum(fees)           as fees,
       sum(shipping)       as shipping
from facts
group by sale_date, platform_id, platform_name, platform_slug, sale_month
