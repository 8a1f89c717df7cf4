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
                             else w.last_sold_date end) - w.purchase_day) as days_in_stock
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
