-- Per stock item: how often and when it sold, and what its sales brought.
-- Read by analytics.stock_aging and the supplier views instead of aggregating every order.
select inventory_id,
       count(*)          as times_sold,
       min(sale_date)    as first_sale_date,
       max(sale_date)    as last_sold_date,
       sum(revenue)      as total_revenue,
       sum(profit)       as total_profit
from facts
where inventory_id is not null
group by inventory_id
