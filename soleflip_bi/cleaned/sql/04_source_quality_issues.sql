-- Every source row the gold views cannot take as it is, with the reason. Metabase can show
-- it and the asset check `rejected_source_rows` reports it by reason with sample ids.
--   severity error    the row is rejected: kept out of the gold views;
--   severity warning  the row is flagged: an order that counts as a sale, but whose stock
--                     item is missing or defective; what each defect does to profit, ROI
--                     and purchase price: 03_order_facts.sql and the README's rule table.
create or replace view analytics.source_quality_issues as
select 'sales.order'::text as source_table, order_id as row_id,
       coalesce(reject_reason, stock_flag) as reason,
       case when reject_reason is not null then 'error' else 'warning' end as severity,
       updated_at
from analytics.order_checked
where reject_reason is not null or (is_sale and stock_flag is not null)
union all
select 'inventory.stock', inventory_id, reject_reason, 'error', updated_at
from analytics.stock_checked
where reject_reason is not null;
