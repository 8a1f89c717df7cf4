-- The pg_cron jobs `soleflip-bi migrate pg-cron --apply` retired, so that `--restore` can
-- schedule exactly those again. In a schema of its own, owned by the role that retires the
-- jobs: the refresh role owns schema soleflip_bi and everything in it, and could rewrite a
-- record kept there.
create schema if not exists soleflip_bi_migration;
create table if not exists soleflip_bi_migration.retired_cron_job (
    jobid       bigint not null,
    jobname     text,
    schedule    text not null,
    command     text not null,
    database    text not null,
    username    text not null,
    active      boolean not null,
    cron_database text not null,
    retired_at  timestamptz not null default now(),
    restored_at timestamptz,
    restored_as bigint
);
revoke all on schema soleflip_bi_migration from public;
revoke all on soleflip_bi_migration.retired_cron_job from public;
