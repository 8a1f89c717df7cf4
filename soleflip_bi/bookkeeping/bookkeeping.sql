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
