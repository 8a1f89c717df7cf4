-- The one definition of stock aging: per stock item, how it sold, how long it has been in
-- stock and its stock category (thresholds: analytics.classification_threshold), and the
-- value still on hand. Read by metabase_inventory_status and metabase_inventory_overview.
create or replace view reference.stock_aging as
with sales_per_item as (
    select inventory_id,
           count(*)          as times_sold,
           max(sale_date)    as last_sold_date,
           sum(revenue)      as total_revenue,
           sum(profit)       as total_profit
    from analytics.order_facts_live
    where inventory_id is not null
    group by inventory_id
),
thresholds as (
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
    from analytics.stock_facts_live s
    left join sales_per_item sp on sp.inventory_id = s.inventory_id
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
