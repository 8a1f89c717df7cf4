-- The one definition of stock aging: per stock item, how it sold, how long it has been in
-- stock and its stock category (thresholds: analytics.classification_threshold), and the
-- value still on hand. How each item sold is the stored rollup analytics.stock_sales
-- (cleaned/rollups/stock_sales.sql). Read by metabase_inventory_status and metabase_inventory_overview.
create or replace view analytics.stock_aging as
with thresholds as (
    select max(value) filter (where name = 'dead_stock_min_days')  as dead_days,
           max(value) filter (where name = 'slow_moving_min_days') as slow_days,
           max(value) filter (where name = 'normal_min_days')      as normal_days
    from analytics.classification_threshold
),
aged as (
    select s.*,
           coalesce(sp.times_sold, 0)                  as times_sold,
           sp.last_sold_date,
           coalesce(sp.total_revenue, 0)               as total_revenue,
           coalesce(sp.total_profit, 0)                as total_profit,
           greatest(0, (case when s.in_stock or sp.last_sold_date is null then current_date
                             else sp.last_sold_date end) - s.purchase_date::date) as days_in_stock
    from analytics.stock_facts s
    left join analytics.stock_sales sp on sp.inventory_id = s.inventory_id
)
select
    a.*,
    case when a.days_in_stock > t.dead_days then 'Dead Stock'
         when a.days_in_stock > t.slow_days then 'Slow Moving'
         when a.days_in_stock > t.normal_days then 'Normal'
         else 'Fast Moving' end                                    as stock_category,
    case when a.in_stock then coalesce(a.purchase_price, 0) * a.quantity else 0 end
                                                                   as current_inventory_value
from aged a
cross join thresholds t;
