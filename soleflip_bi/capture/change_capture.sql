-- Change capture for the sensors: one small row per *statement* that changes a source
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

-- The triggers that call these functions are created per source table from the catalogue
-- (capture/install.py), so the list of tables is stated once.
