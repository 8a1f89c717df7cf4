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
       sp.first_sale_date
from analytics.stock_facts s
left join analytics.stock_sales sp on sp.inventory_id = s.inventory_id;

create table if not exists analytics.stock_with_sales as
select * from analytics.stock_with_sales_live with no data;
create unique index if not exists stock_with_sales_inventory_id_key
    on analytics.stock_with_sales (inventory_id);

-- The one definition of stock aging: per stock item, how it sold, how long it has been in
-- stock and its stock category (thresholds: analytics.classification_threshold), and the
-- value still on hand. Read by metabase_inventory_status and metabase_inventory_overview.
-- Days are whole numbers, so "more than x days" is "more than floor(x)": the thresholds are
-- read once (scalar subqueries) and compared as integers, which at a million items costs a
-- fraction of joining them to every row and comparing numerics.
create or replace view analytics.stock_aging as
with aged as (
    select w.inventory_id, w.product_id, w.product_name, w.sku, w.brand_id, w.brand_name,
           w.category_id, w.category_name, w.size_id, w.us_size, w.eu_size, w.supplier_id,
           w.supplier_name, w.status, w.in_stock, w.condition, w.color, w.location,
           w.quantity, w.purchase_price, w.gross_purchase_price, w.vat_amount,
           w.purchase_date, w.created_at, w.updated_at,
           w.times_sold, w.last_sold_date, w.total_revenue, w.total_profit,
           greatest(0, (case when w.in_stock or w.last_sold_date is null then current_date
                             else w.last_sold_date end) - w.purchase_date::date) as days_in_stock
    from analytics.stock_with_sales w
)
select
    a.*,
    case when a.days_in_stock > (select floor(value)::int from analytics.classification_threshold
                                where name = 'dead_stock_min_days') then 'Dead Stock'
         when a.days_in_stock > (select floor(value)::int from analytics.classification_threshold
                                where name = 'slow_moving_min_days') then 'Slow Moving'
         when a.days_in_stock > (select floor(value)::int from analytics.classification_threshold
                                where name = 'normal_min_days') then 'Normal'
         else 'Fast Moving' end                                    as stock_category,
    case when a.in_stock then coalesce(a.purchase_price, 0) * a.quantity else 0 end
                                                                   as current_inventory_value
from aged a;
