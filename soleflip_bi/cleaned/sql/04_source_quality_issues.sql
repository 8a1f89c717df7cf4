-- Every source row kept out of the gold views, with the reason. Metabase can show it and
-- the asset check `rejected_source_rows` reports it by reason with sample ids.
create or replace view analytics.source_quality_issues as
select 'sales.order'::text as source_table, order_id as row_id, reject_reason as reason,
       updated_at
from analytics.order_checked
where reject_reason is not null
union all
select 'inventory.stock', inventory_id, reject_reason, updated_at
from analytics.stock_checked
where reject_reason is not null;
