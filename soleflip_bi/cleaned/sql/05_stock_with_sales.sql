-- Every sound stock item with how it sold (analytics.stock_sales, a rollup of the order
-- facts: cleaned/rollups/stock_sales.sql). Stored, like the facts, and maintained with them
-- (cleaned/facts.py) for the stock items whose row or whose sales changed, so the
-- per-stock-item views copy one table instead of joining a million rows on every refresh.
create or replace view analytics.stock_with_sales_live as
select s.*,
       coalesce(sp.times_sold, 0)                  as times_sold,
       sp.last_sold_date,
       coalesce(sp.total_revenue, 0)               as total_revenue,
       coalesce(sp.total_profit, 0)                as total_profit,
       sp.first_sale_date,
       -- the purchase day, computed once here rather than per item on every refresh
       s.purchase_date::date                       as purchase_day
from analytics.stock_facts s
left join analytics.stock_sales sp on sp.inventory_id = s.inventory_id;

create table if not exists analytics.stock_with_sales as
select * from analytics.stock_with_sales_live with no data;
create unique index if not exists stock_with_sales_inventory_id_key
    on analytics.stock_with_sales (inventory_id);
