"""Where pg_cron keeps its jobs, and a connection to that database.

pg_cron keeps every job of the cluster in one database, named by ``cron.database_name``
(default ``postgres``; see pg_cron's ``src/pg_cron.c``, ``DefineCustomStringVariable(
"cron.database_name", ..., "postgres", PGC_POSTMASTER, GUC_SUPERUSER_ONLY)``). A job for the
shop's database is a row there whose ``database`` is the shop's, made with
``cron.schedule_in_database``. So the jobs are found in this order:

1. the database of ``--cron-database-url`` (its own credentials), when given;
2. ``cron.database_name``, when this role may read it (a superuser, or a member of
   ``pg_read_all_settings``: the setting is superuser-only), reached with this connection's
   own credentials;
3. this database, when pg_cron's extension is in it: pg_cron lets its extension be created
   only in ``cron.database_name``.

When ``cron.database_name`` does not exist, pg_cron is not loaded (it is defined by the
library, which must be in ``shared_preload_libraries``) and no job can run. When it exists
but this role may not read it and the extension is not here, the jobs cannot be found, and
that is said in one sentence: never "nothing to retire".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from soleflip_bi.database.connection import redact


class PgCronError(RuntimeError):
    """pg_cron's jobs cannot be read or changed as asked; the message says what to do."""


@dataclass(frozen=True)
class CronSite:
    """``database`` holds pg_cron's jobs (None: pg_cron is not loaded, or it could not be
    found, as ``unknown`` says); ``shop_database`` is the database the jobs run in."""

    shop_database: str
    database: str | None
    found_by: str
    unknown: str | None = None

    @property
    def loaded(self) -> bool:
        return self.database is not None or self.unknown is not None

    @property
    def here(self) -> bool:
        return self.database == self.shop_database


def extension_here(conn: psycopg.Connection) -> bool:
    return bool(
        conn.execute(
            "select exists (select from pg_extension where extname = 'pg_cron')"
        ).fetchone()[0]
    )


def locate(conn: psycopg.Connection, cron_url: str | None = None) -> CronSite:
    """Where the jobs for ``conn``'s database are kept, found as the module docstring says."""
    shop, role = conn.execute("select current_database(), current_user").fetchone()
    if cron_url:
        try:
            database = conninfo_to_dict(cron_url).get("dbname") or shop
        except psycopg.ProgrammingError:
            # libpq quotes what it could not parse, which can be the password
            raise PgCronError(
                "the URL given for pg_cron's database (--cron-database-url or "
                "SOLEFLIP_CRON_DATABASE_URL) is not a valid libpq URL (not shown: it may "
                "contain a password)"
            ) from None
        return CronSite(shop, str(database), "--cron-database-url")
    try:
        with conn.transaction():
            setting = conn.execute("select current_setting('cron.database_name', true)").fetchone()[
                0
            ]
    except psycopg.errors.InsufficientPrivilege:
        if extension_here(conn):
            return CronSite(shop, shop, "its extension, which is in this database")
        return CronSite(
            shop,
            None,
            "",
            unknown=(
                f"pg_cron is loaded, and role {role} may not read cron.database_name, the "
                "database that holds its jobs: run this as a superuser or a member of "
                "pg_read_all_settings, or give that database with --cron-database-url"
            ),
        )
    if setting is None:
        return CronSite(shop, None, "it has no cron.database_name")
    return CronSite(shop, str(setting), "cron.database_name")


def _same_credentials(conn: psycopg.Connection, database: str) -> str:
    params = conn.info.get_parameters()
    password = conn.info.password
    if password:
        params["password"] = password
    params["dbname"] = database
    return make_conninfo(**params)


@contextmanager
def cron_connection(
    conn: psycopg.Connection, site: CronSite, cron_url: str | None = None
) -> Iterator[psycopg.Connection]:
    """``conn`` itself when the jobs are kept in its database; otherwise a connection to
    theirs, with ``cron_url`` or with ``conn``'s own credentials."""
    if site.database is None:
        raise PgCronError(site.unknown or "pg_cron is not loaded by this server")
    if site.here and not cron_url:
        yield conn
        return
    target = cron_url or _same_credentials(conn, site.database)
    try:
        other = psycopg.connect(target, application_name="soleflip-bi")
    except psycopg.OperationalError as error:
        reason = " ".join(str(error).split()).rstrip(".")
        raise PgCronError(
            f"pg_cron keeps its jobs in database {site.database} ({site.found_by}), which "
            f"could not be reached as {redact(target)} ({reason}): give a URL for it with "
            "--cron-database-url"
        ) from None
    with other:
        yield other
