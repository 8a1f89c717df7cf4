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

-- The independent recount of the sales and the order accounting, taken in the same
-- transaction (the same snapshot) as each maintenance of the stored order facts, so that
-- the checks compare the views with exactly the orders they were built from.
create table if not exists soleflip_bi.source_recount (
    platform_id uuid primary key,
    orders      bigint not null,
    revenue     numeric not null
);
create table if not exists soleflip_bi.order_accounting (
    id             bigint generated always as identity primary key,
    computed_at    timestamptz not null default now(),
    source_rows    bigint not null,
    sales          bigint not null,
    distinct_sales bigint not null,
    not_sales      bigint not null,
    rejected       bigint not null,
    valid_sales    bigint not null
);
