-- Per sale date (shop time zone): orders, units, revenue, profit.
select
    f.sale_date,
    count(*)                    as total_orders,
    sum(f.units)                as units_sold,
    sum(f.revenue)              as total_revenue,
    sum(f.profit)               as total_profit,
    round(avg(f.revenue), 2)    as avg_order_value
from analytics.order_facts_live f
group by f.sale_date
