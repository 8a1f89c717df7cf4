-- Bookkeeping of the project itself, outside the schema Metabase reads.
create schema if not exists soleflip_bi;

-- One row per refresh that committed: what status and benchmarks report.
create table if not exists soleflip_bi.refresh_log (
    id              bigint generated always as identity primary key,
    view_name       text not null,
    mode            text not null,
    definition_hash text not null,
    started_at      timestamptz not null,
    finished_at     timestamptz not null,
    row_count       bigint not null
);
create index if not exists refresh_log_view_idx on soleflip_bi.refresh_log (view_name, id desc);

-- What a refresh was built from, so that the next one can tell whether anything changed.
alter table soleflip_bi.refresh_log add column if not exists source_snapshot text;
alter table soleflip_bi.refresh_log add column if not exists cleaned_hash text;
alter table soleflip_bi.refresh_log add column if not exists reference_checksum text;

-- The reconciliation of the views with the sources (cleaned/recount.py): every order's
-- verdict by the independent recount and by the cleaned layer, and their totals, kept in
-- step with the stored order facts in the same transactions.
create table if not exists soleflip_bi.order_verdict (
    order_id    uuid primary key,
    platform_id uuid,
    revenue     numeric,
    cleaned     text not null
);
create table if not exists soleflip_bi.source_recount (
    platform_id uuid primary key,
    orders      bigint not null,
    revenue     numeric not null
);
create table if not exists soleflip_bi.order_accounting (
    id          boolean primary key default true check (id),
    source_rows bigint not null,
    sales       bigint not null,
    not_sales   bigint not null,
    rejected    bigint not null,
    valid_sales bigint not null,
    missing     bigint not null,
    full_at     timestamptz not null,
    computed_at timestamptz not null
);

-- What `dashboards push` last saw of each Metabase object it manages (dashboards/ledger.py):
-- a stamp that changes when anyone edits the object, so the next push can tell an edit
-- made in Metabase from its own.
create table if not exists soleflip_bi.metabase_pushed (
    metabase_url text not null,
    model        text not null,
    object_id    bigint not null,
    object_key   text not null,
    edit_stamp   text not null,
    pushed_at    timestamptz not null default now(),
    primary key (metabase_url, model, object_id)
);

-- Which definition each analytics view was built from, and which relation that build made
-- (views/definitions.py). A view whose oid is not the one recorded was made by someone else.
-- The view's own comment is its description, for people and for Metabase.
create table if not exists soleflip_bi.view_definition (
    view_name       text primary key,
    relation        oid not null,
    definition_hash text not null,
    built_at        timestamptz not null default now()
);
