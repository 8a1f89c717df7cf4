-- Per sale date (shop time zone): orders, units, revenue, profit, from the stored cells
-- per sale date and platform (analytics.sales_by_day_platform).
select
    c.sale_date,
    sum(c.orders)::bigint                     as total_orders,
    sum(c.units)::bigint                      as units_sold,
    sum(c.revenue)                            as total_revenue,
    sum(c.profit)                             as total_profit,
    round(sum(c.revenue) / sum(c.orders), 2)  as avg_order_value
from analytics.sales_by_day_platform c
group by c.sale_date
