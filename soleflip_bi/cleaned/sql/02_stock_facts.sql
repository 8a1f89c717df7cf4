-- One row per stock item with every dimension resolved (Unknown when missing) and the
-- reason it is rejected, if it is. Rejected items are excluded from stock_facts (and so
-- from the inventory views); an order of a rejected item still counts (03_order_facts.sql).
create or replace view analytics.stock_checked as
select
    s.id                                             as inventory_id,
    coalesce(p.id, analytics.unknown_id())           as product_id,
    coalesce(p.name, 'Unknown')                      as product_name,
    coalesce(p.sku, 'Unknown')                       as sku,
    coalesce(b.id, analytics.unknown_id())           as brand_id,
    coalesce(b.name, 'Unknown')                      as brand_name,
    coalesce(c.id, analytics.unknown_id())           as category_id,
    coalesce(c.name, 'Unknown')                      as category_name,
    coalesce(z.id, analytics.unknown_id())           as size_id,
    coalesce(z.us_size, 'Unknown')                   as us_size,
    coalesce(z.eu_size, 'Unknown')                   as eu_size,
    coalesce(sp.id, analytics.unknown_id())          as supplier_id,
    coalesce(sp.name, 'Unknown')                     as supplier_name,
    lower(btrim(s.status))                           as status,
    coalesce(ss.in_stock, false)                     as in_stock,
    coalesce(nullif(btrim(s.condition), ''), 'Unknown') as condition,
    coalesce(nullif(btrim(s.color), ''), 'Unknown')  as color,
    s.location,
    s.quantity,
    s.purchase_price,
    s.gross_purchase_price,
    s.vat_amount,
    coalesce(s.purchase_date, s.created_at)          as purchase_date,
    s.created_at,
    s.updated_at,
    case
        when s.quantity is null or s.quantity < 0 then 'invalid_quantity'
        when s.purchase_price < 0 or s.gross_purchase_price < 0 then 'negative_purchase_price'
        when ss.status is null then 'unknown_stock_status'
    end                                              as reject_reason,
    p.id is not null                                 as product_known
from inventory.stock s
left join catalog.product p on p.id = s.product_id
left join catalog.brand b on b.id = p.brand_id
left join catalog.category c on c.id = p.category_id
left join catalog.size_master z on z.id = s.size_id
left join supplier.profile sp on sp.id = s.supplier_id
left join analytics.stock_status ss on ss.status = lower(btrim(s.status));

create or replace view analytics.stock_facts_live as
select inventory_id, product_id, product_name, sku, brand_id, brand_name, category_id,
       category_name, size_id, us_size, eu_size, supplier_id, supplier_name, status, in_stock,
       condition, color, location, quantity, purchase_price, gross_purchase_price, vat_amount,
       purchase_date, created_at, updated_at
from analytics.stock_checked
where reject_reason is null;

-- Stored, like the order facts: maintained from stock_facts_live by the project
-- (cleaned/facts.py, in the same transaction as the order facts) only for the stock items
-- that changed, instead of being computed again by each per-stock-item view.
create table if not exists analytics.stock_facts as
select * from analytics.stock_facts_live with no data;
create unique index if not exists stock_facts_inventory_id_key
    on analytics.stock_facts (inventory_id);
