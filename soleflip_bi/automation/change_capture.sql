-- Change capture for the sensors: one small row per *statement* that changes a watched
-- table, stamped with the writing transaction's id. No row is ever updated, so writers
-- never wait for each other here (no hot row); the cost is one insert per statement.
-- The sensors read it with MVCC snapshots, so a change is seen exactly once, after commit.
create schema if not exists soleflip_bi;

create table if not exists soleflip_bi.source_change (
    xid        xid8 not null default pg_current_xact_id(),
    source     text not null,
    operation  text not null,
    changed_at timestamptz not null default clock_timestamp()
);
create index if not exists source_change_source_xid_idx on soleflip_bi.source_change (source, xid);

-- The trigger functions run as their owner (SECURITY DEFINER, fixed search_path): the
-- shop's application roles write orders and stock without any right on soleflip_bi, and
-- nobody calls the functions directly (EXECUTE is not needed to fire a trigger).
create or replace function soleflip_bi.record_source_change() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
    insert into soleflip_bi.source_change (source, operation) values (tg_argv[0], tg_op);
    return null;
end
$$;
revoke all on function soleflip_bi.record_source_change() from public;

drop trigger if exists soleflip_bi_orders_changed on sales."order";
create trigger soleflip_bi_orders_changed
    after insert or update or delete or truncate on sales."order"
    for each statement execute function soleflip_bi.record_source_change('orders');

drop trigger if exists soleflip_bi_stock_changed on inventory.stock;
create trigger soleflip_bi_stock_changed
    after insert or update or delete or truncate on inventory.stock
    for each statement execute function soleflip_bi.record_source_change('inventory');

-- Dimension tables: no sensor watches them, but a view is only skipped as "unchanged"
-- when none of its sources, dimensions included, changed since its last refresh.
do $$
declare
    dimension text;
begin
    foreach dimension in array array['catalog.brand', 'catalog.category', 'catalog.size_master',
                                     'catalog.product', 'platform.marketplace',
                                     'supplier.profile']
    loop
        execute format('drop trigger if exists soleflip_bi_catalog_changed on %s', dimension);
        execute format('create trigger soleflip_bi_catalog_changed '
                       'after insert or update or delete or truncate on %s '
                       'for each statement execute function '
                       'soleflip_bi.record_source_change(''catalog'')', dimension);
    end loop;
end
$$;

-- Which rows changed, for the incremental maintenance of the stored order facts: the ids of
-- every inserted, updated or deleted order and stock item, written set-based once per
-- statement from its transition tables (again append-only, no hot row).
create table if not exists soleflip_bi.changed_row (
    xid        xid8 not null default pg_current_xact_id(),
    source     text not null,
    row_id     uuid not null,
    changed_at timestamptz not null default clock_timestamp()
);
create index if not exists changed_row_source_xid_idx on soleflip_bi.changed_row (source, xid);

create or replace function soleflip_bi.record_changed_rows() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
    if tg_op in ('INSERT', 'UPDATE') then
        insert into soleflip_bi.changed_row (source, row_id)
        select tg_argv[0], id from new_rows;
    end if;
    if tg_op = 'DELETE' then
        insert into soleflip_bi.changed_row (source, row_id)
        select tg_argv[0], id from old_rows;
    elsif tg_op = 'UPDATE' then  -- an id that changed: the old one is gone
        insert into soleflip_bi.changed_row (source, row_id)
        select tg_argv[0], id from old_rows except select tg_argv[0], id from new_rows;
    end if;
    return null;
end
$$;
revoke all on function soleflip_bi.record_changed_rows() from public;

do $$
declare
    watched record;
begin
    for watched in select * from (values ('sales."order"', 'orders', 'order'),
                                         ('inventory.stock', 'inventory', 'stock')) as w(t, s, n)
    loop
        execute format('drop trigger if exists soleflip_bi_%s_rows_inserted on %s', watched.n, watched.t);
        execute format('drop trigger if exists soleflip_bi_%s_rows_updated on %s', watched.n, watched.t);
        execute format('drop trigger if exists soleflip_bi_%s_rows_deleted on %s', watched.n, watched.t);
        execute format('create trigger soleflip_bi_%s_rows_inserted after insert on %s '
                       'referencing new table as new_rows for each statement '
                       'execute function soleflip_bi.record_changed_rows(%L)',
                       watched.n, watched.t, watched.s);
        execute format('create trigger soleflip_bi_%s_rows_updated after update on %s '
                       'referencing old table as old_rows new table as new_rows '
                       'for each statement execute function soleflip_bi.record_changed_rows(%L)',
                       watched.n, watched.t, watched.s);
        execute format('create trigger soleflip_bi_%s_rows_deleted after delete on %s '
                       'referencing old table as old_rows for each statement '
                       'execute function soleflip_bi.record_changed_rows(%L)',
                       watched.n, watched.t, watched.s);
    end loop;
end
$$;
