"""The old system's pg_cron jobs that refresh the views this project now refreshes.

Before the switch the shop's database refreshed the views with pg_cron (seed 001:
``cron.job`` rows named ``refresh_%``; seed 002: ``cron.schedule('refresh_exec_metrics',
'0 * * * *', ...)``). Left running, every view is refreshed twice and a cron ``REFRESH``
races our build-and-swap. A job is ours to retire when it runs in the shop's database and
its command

* refreshes a managed view: ``REFRESH MATERIALIZED VIEW [CONCURRENTLY] name`` with the name
  schema-qualified by ``analytics`` or not, quoted or not, in any case where unquoted
  (PostgreSQL folds unquoted names to lower case; a quoted name must match exactly), or
* calls one of the old system's refresh functions: a function whose name starts with
  ``refresh_`` and has ``view`` or ``views`` as one of its words (``refresh_views('hourly')``,
  ``analytics.refresh_all_views()``), in any schema.

Names are matched as whole identifiers, and comments are ignored: ``refresh_preview_
thumbnails()``, ``shop.refresh_review_scores()``, ``refresh_overview_cache()``,
``audit.log_refresh_views_done()`` and a refresh that appears only in a comment are not
refreshes of ours. Quoted text is still searched: a ``DO`` block or an ``EXECUTE`` runs it.
Other jobs are left alone and listed by name. The jobs are read wherever pg_cron keeps them
(``cron_site.py``: ``cron.database_name``, ``postgres`` by default). Retiring records each
job in ``soleflip_bi_migration.retired_cron_job`` (a schema the refresh role has no right
on, so it cannot rewrite the record) before ``cron.unschedule``, so ``--restore`` can
schedule exactly those jobs again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import psycopg
from psycopg.pq import TransactionStatus

from soleflip_bi.shared import settings
from soleflip_bi.views.cron_site import (
    CronSite,
    PgCronError,
    cron_connection,
    extension_here,
    locate,
)
from soleflip_bi.views.registry import VIEWS

MANAGED = frozenset(spec.name for spec in VIEWS)
SCHEMA = "analytics"
_NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
REFRESH = re.compile(
    rf"\brefresh\s+materialized\s+view\s+(?:concurrently\s+)?({_NAME})(?:\s*\.\s*({_NAME}))?",
    re.IGNORECASE,
)
OLD_FUNCTION = re.compile(
    rf"(?<![A-Za-z0-9_$])(?:{_NAME}\s*\.\s*)?\"?(refresh_[A-Za-z0-9_$]*)\"?\s*\(", re.IGNORECASE
)
OLD_FUNCTION_WORDS = frozenset({"view", "views"})
# What a command's text may hold besides code: quoted text (kept, a comment marker inside
# it is no comment), and comments (dropped). PostgreSQL's block comments nest.
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(\$[A-Za-z_0-9]*\$).*?\1", re.DOTALL)

RECORD_SCHEMA = "soleflip_bi_migration"
RECORD_TABLE = (
    resources.files("soleflip_bi.views").joinpath("migration", "retired_cron_job.sql").read_text()
)
# Where an earlier version kept the record; its rows are copied over once.
LEGACY_RECORD = "soleflip_bi.retired_cron_job"


@dataclass(frozen=True)
class CronJob:
    jobid: int
    jobname: str | None
    schedule: str
    command: str
    database: str
    username: str
    active: bool

    @property
    def label(self) -> str:
        return f"job {self.jobid} {self.jobname or '(unnamed)'!r} ({self.schedule})"


@dataclass(frozen=True)
class CronPlan:
    site: CronSite
    installed: bool
    retire: tuple[tuple[CronJob, tuple[str, ...]], ...] = ()  # each job and what it refreshes
    others: tuple[CronJob, ...] = ()  # jobs left alone

    @property
    def pending(self) -> bool:
        return bool(self.retire)


def _identifier(token: str) -> str:
    if token.startswith('"'):
        return token[1:-1].replace('""', '"')
    return token.lower()


def without_comments(command: str) -> str:
    """``command`` with its ``--`` and (nested) ``/* */`` comments replaced by a space;
    quoted strings, quoted identifiers and dollar-quoted bodies are kept as they are."""
    out: list[str] = []
    i, n = 0, len(command)
    while i < n:
        if command.startswith("--", i):
            end = command.find("\n", i)
            i = n if end < 0 else end
            out.append(" ")
        elif command.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if command.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif command.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
            out.append(" ")
        elif (quoted := _QUOTED.match(command, i)) is not None:
            out.append(quoted.group(0))
            i = quoted.end()
        else:
            out.append(command[i])
            i += 1
    return "".join(out)


def refreshed_by(command: str) -> tuple[str, ...]:
    """The managed views ``command`` refreshes, or ``("old refresh function name()",)``
    entries for the old system's refresh functions it calls; empty when neither."""
    found: list[str] = []
    command = without_comments(command)
    for match in REFRESH.finditer(command):
        first, second = _identifier(match.group(1)), match.group(2)
        schema, name = (first, _identifier(second)) if second else (None, first)
        if schema in (None, SCHEMA) and name in MANAGED and name not in found:
            found.append(name)
    for match in OLD_FUNCTION.finditer(command):
        name = match.group(1).lower()
        if not OLD_FUNCTION_WORDS & set(name.split("_")):
            continue
        call = f"{name}()"
        if call not in found:
            found.append(call)
    return tuple(found)


def cron_jobs(cron: psycopg.Connection, shop_database: str) -> list[CronJob]:
    """Every pg_cron job that runs in ``shop_database`` and that this role may see, read on
    ``cron``, the connection to the database pg_cron keeps its jobs in (empty without the
    extension there). pg_cron shows a role only its own jobs; a superuser sees all."""
    if not extension_here(cron):
        return []
    readable = cron.execute(
        "select has_schema_privilege('cron', 'usage') "
        "and has_table_privilege('cron.job', 'select'), current_user, current_database()"
    ).fetchone()
    if not readable[0]:
        raise PgCronError(
            f"role {readable[1]} may not read pg_cron's jobs (cron.job in database "
            f"{readable[2]}); run this as the role that scheduled them or a superuser"
        )
    rows = cron.execute(
        "select jobid, jobname, schedule, command, database, username, active from cron.job "
        "where database = %s order by jobid",
        (shop_database,),
    ).fetchall()
    return [CronJob(*row) for row in rows]


def plan(cron: psycopg.Connection, site: CronSite) -> CronPlan:
    """Which jobs `migrate pg-cron --apply` would retire (read only)."""
    if not extension_here(cron):
        return CronPlan(site, installed=False)
    retire, others = [], []
    for job in cron_jobs(cron, site.shop_database):
        targets = refreshed_by(job.command)
        if targets:
            retire.append((job, targets))
        else:
            others.append(job)
    return CronPlan(site, True, tuple(retire), tuple(others))


def unseen_jobs_note(conn: psycopg.Connection, site: CronSite) -> str | None:
    """A line for `views status` when pg_cron is loaded but this role cannot see every
    job: it may not find pg_cron's database, or pg_cron shows it only its own jobs."""
    if site.unknown:
        return site.unknown
    if site.database is None:
        return None
    role, superuser = conn.execute(
        "select current_user, rolsuper from pg_roles where rolname = current_user"
    ).fetchone()
    if superuser:
        return None
    return (
        f"pg_cron is loaded and shows role {role} only its own jobs: "
        "`soleflip-bi migrate pg-cron` as the jobs' owner or a superuser lists the others"
    )


def scheduled_elsewhere(conn: psycopg.Connection) -> tuple[CronPlan | None, CronSite]:
    """The jobs `views status` and the ``definition_current`` check report, read with
    ``conn``'s role; no plan when that role cannot find or read them (the refresh role
    usually cannot: `migrate pg-cron`, run as the jobs' owner, is what lists them)."""
    cron_url = settings.cron_database_url_override()
    try:
        site = locate(conn, cron_url)
    except PgCronError as error:
        return None, CronSite(conn.info.dbname, None, "", unknown=str(error))
    if site.database is None:
        return None, site
    try:
        with cron_connection(conn, site, cron_url) as cron:
            return plan(cron, site), site
    except (PgCronError, psycopg.Error):
        if not conn.closed and conn.info.transaction_status == TransactionStatus.INERROR:
            conn.rollback()
        return None, site


def outside_refreshes(found: CronPlan | None, view: str) -> list[str]:
    """One finding per pg_cron job of ``found`` still scheduled to refresh ``view``."""
    if found is None:
        return []
    return [
        f"pg_cron {job.label} still refreshes it: `soleflip-bi migrate pg-cron --apply`"
        for job, targets in found.retire
        if view in targets or any(t.endswith("()") for t in targets)
    ]


def _legacy_readable(conn: psycopg.Connection) -> bool:
    """Whether an earlier version's record exists and this role may read it (the catalog
    is asked: ``to_regclass`` fails without USAGE on the schema)."""
    return bool(
        conn.execute(
            "select exists (select from pg_class c join pg_namespace n on n.oid = "
            "c.relnamespace where n.nspname = %s and c.relname = %s "
            "and has_schema_privilege(n.oid, 'usage') and has_table_privilege(c.oid, 'select'))",
            tuple(LEGACY_RECORD.split(".")),
        ).fetchone()[0]
    )


def _ensure_record(conn: psycopg.Connection) -> None:
    """The record's table, with whatever an earlier version recorded in ``soleflip_bi``."""
    conn.execute(RECORD_TABLE)
    if _legacy_readable(conn):
        conn.execute(
            "insert into soleflip_bi_migration.retired_cron_job (jobid, jobname, schedule, "
            "command, database, username, active, cron_database, retired_at, restored_at, "
            "restored_as) select l.jobid, l.jobname, l.schedule, l.command, l.database, "
            "l.username, l.active, l.database, l.retired_at, l.restored_at, l.restored_as "
            "from soleflip_bi.retired_cron_job l where not exists (select from "
            "soleflip_bi_migration.retired_cron_job r where r.jobid = l.jobid "
            "and r.retired_at = l.retired_at)"
        )


def retire(shop: psycopg.Connection, cron: psycopg.Connection, jobs: list[CronJob]) -> None:
    """Record ``jobs`` in the shop's database and unschedule them where pg_cron keeps them.

    In one database that is one transaction. Across two, the record is written first and
    committed last: a job pg_cron refuses to unschedule rolls both back; only a lost
    connection between pg_cron's commit and the record's would leave a job unrecorded, and
    then the error names every job with its schedule and command.
    """
    cron_database = cron.info.dbname
    unscheduled = False
    try:
        with shop.transaction():
            _ensure_record(shop)
            for job in jobs:
                shop.execute(
                    "insert into soleflip_bi_migration.retired_cron_job "
                    "(jobid, jobname, schedule, command, database, username, active, "
                    "cron_database) values (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        job.jobid,
                        job.jobname,
                        job.schedule,
                        job.command,
                        job.database,
                        job.username,
                        job.active,
                        cron_database,
                    ),
                )
            with cron.transaction():
                for job in jobs:
                    try:
                        with cron.transaction():
                            cron.execute("select cron.unschedule(%s::bigint)", (job.jobid,))
                    except psycopg.errors.Error as error:
                        raise PgCronError(
                            f"pg_cron did not unschedule {job.label} of role {job.username} "
                            f"({error.diag.message_primary}); run this as that role or a "
                            "superuser; nothing was changed"
                        ) from None
            unscheduled = True
    except psycopg.Error as error:
        if not unscheduled:
            raise
        raise PgCronError(
            f"the jobs were unscheduled but their record was not written ({error}): "
            + "; ".join(f"{j.label} as {j.username}: {j.command}" for j in jobs)
        ) from None


def _schedule(cron: psycopg.Connection, job: CronJob) -> int:
    """Schedule ``job`` again, paused when it was paused.

    pg_cron's ``cron.schedule`` (granted to everyone) makes an active job of the current
    role in pg_cron's own database; any other job needs ``cron.schedule_in_database``,
    which pg_cron revokes from public ("admin should decide whether
    cron.schedule_in_database is safe", ``pg_cron--1.3--1.4.sql``), and which lets only a
    superuser name a role, even its own (``ScheduleCronJob`` in ``src/job_metadata.c``): so
    the role is named only when it is not the current one.
    """
    current, here = cron.execute("select current_user, current_database()").fetchone()
    name = job.jobname or f"restored_job_{job.jobid}"
    if (job.database, job.username, job.active) == (here, current, True):
        query = "select cron.schedule(%s, %s, %s)"
        params: tuple = (name, job.schedule, job.command)
    else:
        query = "select cron.schedule_in_database(%s, %s, %s, %s, %s, %s)"
        role = None if job.username == current else job.username
        params = (name, job.schedule, job.command, job.database, role, job.active)
    try:
        with cron.transaction():
            new_id = cron.execute(query, params).fetchone()[0]
    except psycopg.errors.InsufficientPrivilege as error:
        raise PgCronError(
            f"pg_cron did not schedule {job.label} for database {job.database} as "
            f"{job.username} again ({error.diag.message_primary}): from database {here} that "
            "takes a superuser, or EXECUTE on cron.schedule_in_database granted to role "
            f"{current}; nothing was restored"
        ) from None
    except psycopg.errors.Error as error:
        raise PgCronError(
            f"pg_cron did not schedule {job.label} as {job.username} again "
            f"({error.diag.message_primary}); nothing was restored"
        ) from None
    return int(new_id)


@dataclass(frozen=True)
class RetiredJob:
    job: CronJob
    retired_at: datetime


def retired_jobs(shop: psycopg.Connection) -> list[RetiredJob]:
    """The jobs retired and not restored since, oldest first."""
    present = shop.execute(
        "select to_regclass('soleflip_bi_migration.retired_cron_job') is not null"
    ).fetchone()[0]
    if not present:
        if not _legacy_readable(shop):
            return []
        with shop.transaction():
            _ensure_record(shop)
    rows = shop.execute(
        "select jobid, jobname, schedule, command, database, username, active, retired_at "
        "from soleflip_bi_migration.retired_cron_job where restored_at is null "
        "order by retired_at, jobid"
    ).fetchall()
    return [RetiredJob(CronJob(*row[:7]), row[7]) for row in rows]


def restore(
    shop: psycopg.Connection, cron: psycopg.Connection, jobs: list[CronJob]
) -> list[tuple[CronJob, int]]:
    """Schedule ``jobs`` (retired ones) again as they were: name, schedule, command,
    database, role, active; return each with its new job id."""
    if not extension_here(cron):
        raise PgCronError(
            f"pg_cron's extension is not in database {cron.info.dbname}: nothing can be restored"
        )
    restored = []
    with shop.transaction(), cron.transaction():
        for job in jobs:
            new_id = _schedule(cron, job)
            shop.execute(
                "update soleflip_bi_migration.retired_cron_job set restored_at = now(), "
                "restored_as = %s where jobid = %s and restored_at is null",
                (new_id, job.jobid),
            )
            restored.append((job, new_id))
    return restored
