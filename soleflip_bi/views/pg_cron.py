"""The old system's pg_cron jobs that refresh the views this project now refreshes.

Before the switch the shop's database refreshed the views with pg_cron (seed 001:
``cron.job`` rows named ``refresh_%``; seed 002: ``cron.schedule('refresh_exec_metrics',
'0 * * * *', ...)``). Left running, every view is refreshed twice and a cron ``REFRESH``
races our build-and-swap. A job is ours to retire when it runs in this database and its
command

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
Other jobs are left alone and listed by name. Retiring records each job in
``soleflip_bi.retired_cron_job`` before ``cron.unschedule``, in one transaction, so
``--restore`` can schedule exactly those jobs again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import psycopg

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

RECORD_TABLE = """
create schema if not exists soleflip_bi;
create table if not exists soleflip_bi.retired_cron_job (
    jobid       bigint not null,
    jobname     text,
    schedule    text not null,
    command     text not null,
    database    text not null,
    username    text not null,
    active      boolean not null,
    retired_at  timestamptz not null default now(),
    restored_at timestamptz,
    restored_as bigint
)
"""


class PgCronError(RuntimeError):
    """pg_cron refused a change (a job of another role, a job already gone)."""


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


def pg_cron_installed(conn: psycopg.Connection) -> bool:
    return bool(
        conn.execute(
            "select exists (select from pg_extension where extname = 'pg_cron')"
        ).fetchone()[0]
    )


def cron_jobs(conn: psycopg.Connection) -> list[CronJob]:
    """Every pg_cron job that runs in this database and that this role may see (empty
    without the extension). pg_cron shows a role only its own jobs; a superuser sees all."""
    if not pg_cron_installed(conn):
        return []
    readable = conn.execute(
        "select has_schema_privilege('cron', 'usage') "
        "and has_table_privilege('cron.job', 'select'), current_user"
    ).fetchone()
    if not readable[0]:
        raise PgCronError(
            f"role {readable[1]} may not read pg_cron's jobs (cron.job); run this as the "
            "role that scheduled them or a superuser"
        )
    rows = conn.execute(
        "select jobid, jobname, schedule, command, database, username, active from cron.job "
        "where database = current_database() order by jobid"
    ).fetchall()
    return [CronJob(*row) for row in rows]


def plan(conn: psycopg.Connection) -> CronPlan:
    """Which jobs `migrate pg-cron --apply` would retire (read only)."""
    if not pg_cron_installed(conn):
        return CronPlan(installed=False)
    retire, others = [], []
    for job in cron_jobs(conn):
        targets = refreshed_by(job.command)
        if targets:
            retire.append((job, targets))
        else:
            others.append(job)
    return CronPlan(True, tuple(retire), tuple(others))


def unseen_jobs_note(conn: psycopg.Connection) -> str | None:
    """A line for `views status` when pg_cron is installed but this role cannot see the
    jobs of others (pg_cron shows a role only its own), so a silence proves nothing."""
    if not pg_cron_installed(conn):
        return None
    role, superuser = conn.execute(
        "select current_user, rolsuper from pg_roles where rolname = current_user"
    ).fetchone()
    if superuser:
        return None
    return (
        f"pg_cron is installed and shows role {role} only its own jobs: "
        "`soleflip-bi migrate pg-cron` as the jobs' owner or a superuser lists the others"
    )


def outside_refreshes(conn: psycopg.Connection, view: str) -> list[str]:
    """One finding per pg_cron job still scheduled to refresh ``view`` that this role can
    see; none when it may not read pg_cron's jobs at all (the refresh role usually may
    not: `migrate pg-cron`, run as the jobs' owner, is what lists them)."""
    try:
        found = plan(conn)
    except PgCronError:
        return []
    return [
        f"pg_cron {job.label} still refreshes it: `soleflip-bi migrate pg-cron --apply`"
        for job, targets in found.retire
        if view in targets or any(t.endswith("()") for t in targets)
    ]


def retire(conn: psycopg.Connection, jobs: list[CronJob]) -> None:
    """Record and unschedule ``jobs``, all or none."""
    with conn.transaction():
        conn.execute(RECORD_TABLE)
        for job in jobs:
            conn.execute(
                "insert into soleflip_bi.retired_cron_job "
                "(jobid, jobname, schedule, command, database, username, active) "
                "values (%s, %s, %s, %s, %s, %s, %s)",
                (
                    job.jobid,
                    job.jobname,
                    job.schedule,
                    job.command,
                    job.database,
                    job.username,
                    job.active,
                ),
            )
            try:
                with conn.transaction():
                    conn.execute("select cron.unschedule(%s::bigint)", (job.jobid,))
            except psycopg.errors.Error as error:
                raise PgCronError(
                    f"pg_cron did not unschedule {job.label} of role {job.username} "
                    f"({error.diag.message_primary}); run this as that role or a superuser; "
                    "nothing was changed"
                ) from None


def _schedule(conn: psycopg.Connection, job: CronJob) -> int:
    """Schedule ``job`` again: as the current role in this database with ``cron.schedule``
    (allowed to the job's own role), elsewhere with ``cron.schedule_in_database``
    (superuser only); paused again when it was paused."""
    here = conn.execute("select current_database(), current_user").fetchone()
    name = job.jobname or f"restored_job_{job.jobid}"
    if (job.database, job.username) == tuple(here):
        new_id = conn.execute(
            "select cron.schedule(%s, %s, %s)", (name, job.schedule, job.command)
        ).fetchone()[0]
    else:
        new_id = conn.execute(
            "select cron.schedule_in_database(%s, %s, %s, %s, %s)",
            (name, job.schedule, job.command, job.database, job.username),
        ).fetchone()[0]
    if not job.active:
        conn.execute("select cron.alter_job(%s, active => false)", (new_id,))
    return int(new_id)


@dataclass(frozen=True)
class RetiredJob:
    job: CronJob
    retired_at: datetime


def retired_jobs(conn: psycopg.Connection) -> list[RetiredJob]:
    """The jobs retired and not restored since, oldest first."""
    if not conn.execute(
        "select to_regclass('soleflip_bi.retired_cron_job') is not null"
    ).fetchone()[0]:
        return []
    rows = conn.execute(
        "select jobid, jobname, schedule, command, database, username, active, retired_at "
        "from soleflip_bi.retired_cron_job where restored_at is null order by retired_at, jobid"
    ).fetchall()
    return [RetiredJob(CronJob(*row[:7]), row[7]) for row in rows]


def restore(conn: psycopg.Connection) -> list[tuple[CronJob, int]]:
    """Schedule every retired job again as it was (name, schedule, command, database,
    role, active); return each with its new job id."""
    if not pg_cron_installed(conn):
        raise PgCronError("pg_cron is not installed in this database: nothing can be restored")
    restored = []
    with conn.transaction():
        for retired in retired_jobs(conn):
            job = retired.job
            new_id = _schedule(conn, job)
            conn.execute(
                "update soleflip_bi.retired_cron_job set restored_at = now(), restored_as = %s "
                "where jobid = %s and restored_at is null",
                (new_id, job.jobid),
            )
            restored.append((job, int(new_id)))
    return restored
