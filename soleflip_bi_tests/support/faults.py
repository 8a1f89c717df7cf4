"""What the fault scenarios share: slow views to hit, backends to find, readers that keep
reading, and Dagster runs of a few views against a real instance.

A fault has to land while a refresh is really working, so the refresh is made slow by
wrapping the view's SQL in a query that sleeps first; the rows stay exactly the same.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import dagster as dg
import psycopg
from psycopg import sql

from soleflip_bi.cleaned.assets import cleaned_layer
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA
from soleflip_bi.views.assets import build_view_asset
from soleflip_bi.views.registry import ViewSpec


@dataclass(frozen=True)
class RedefinedView(ViewSpec):
    """A registered view with other SQL: same name, grain and indexes, a new definition."""

    replacement_sql: str = ""

    @property
    def sql(self) -> str:
        return self.replacement_sql


def redefined(spec: ViewSpec, text: str) -> ViewSpec:
    values = {f.name: getattr(spec, f.name) for f in dataclasses.fields(ViewSpec)}
    return RedefinedView(**values, replacement_sql=text)


def slowed(spec: ViewSpec, seconds: float) -> ViewSpec:
    """The same rows as ``spec``, but every build or refresh sleeps ``seconds`` first."""
    body = spec.sql.strip().rstrip(";")
    return redefined(
        spec, f"select v.* from (\n{body}\n) v where (select 1 from pg_sleep({seconds})) = 1"
    )


def sleeping_refresh_pid(url: str, view: str, timeout: float = 30.0) -> int:
    """The backend that is building or refreshing ``view`` right now (inside its sleep)."""
    return busy_backend_pid(url, f"%materialized view%{view}%", timeout, sleeping=True)


def busy_backend_pid(url: str, pattern: str, timeout: float = 60.0, sleeping: bool = False) -> int:
    """The backend running a statement like ``pattern`` (ILIKE) right now."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                """
                select pid from pg_stat_activity
                where datname = current_database() and pid <> pg_backend_pid()
                  and state = 'active' and query ilike %s
                  and (not %s or wait_event = 'PgSleep')
                """,
                (pattern, sleeping),
            ).fetchone()
            if row:
                return int(row[0])
            time.sleep(0.01)
    raise AssertionError(f"no statement like {pattern!r} ran within {timeout:.0f} s")


def view_totals(url: str, spec: ViewSpec) -> tuple[int, Decimal]:
    """(rows, revenue) of a view, as a Metabase question would read them."""
    with psycopg.connect(url, autocommit=True) as conn:
        return _totals(conn, spec)


def _totals(conn: psycopg.Connection, spec: ViewSpec) -> tuple[int, Decimal]:
    revenue = sql.Identifier(spec.revenue_column) if spec.revenue_column else sql.SQL("0")
    query = sql.SQL("select count(*), coalesce(sum({}), 0) from {}").format(
        revenue, sql.Identifier(ANALYTICS_SCHEMA, spec.name)
    )
    count, total = conn.execute(query).fetchone()
    return int(count), Decimal(total)


@dataclass
class ViewReader:
    """A dashboard that keeps reading one view while a fault happens."""

    url: str
    spec: ViewSpec
    reads: list[tuple[float, tuple[int, Decimal]]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    slowest_read: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ViewReader:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _read(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    totals = _totals(conn, self.spec)
                except psycopg.Error as error:  # any error is what a dashboard would show
                    self.errors.append(error)
                    return
                self.slowest_read = max(self.slowest_read, time.monotonic() - started)
                self.reads.append((time.monotonic(), totals))
                time.sleep(0.02)

    def seen(self, since: float = 0.0) -> list[tuple[int, Decimal]]:
        """The distinct results read at or after ``since`` (monotonic clock), in order."""
        return list(dict.fromkeys(totals for at, totals in self.reads if at >= since))


def materialize_views(
    specs: Iterable[ViewSpec],
    url: str,
    instance: dg.DagsterInstance,
    tags: dict[str, str] | None = None,
    **resource_settings: int,
) -> dg.ExecuteInProcessResult:
    """One Dagster run refreshing ``specs`` (their real assets and checks) on ``instance``."""
    return dg.materialize(
        [cleaned_layer, *(build_view_asset(spec) for spec in specs)],
        instance=instance,
        resources={"postgres": PostgresResource(database_url=url, **resource_settings)},
        tags=tags,
        raise_on_error=False,
    )


def retry_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The reason of every step retry in the run, as the Dagster UI lists them."""
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
    messages = []
    for entry in events:
        error = entry.dagster_event.event_specific_data.error
        cause = error.cause if error and error.cause else error
        messages.append(f"{cause.cls_name}: {cause.message}" if cause else entry.message)
    return messages


def refresh_log_rows(url: str, view: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return int(
            conn.execute(
                "select count(*) from soleflip_bi.refresh_log where view_name = %s", (view,)
            ).fetchone()[0]
        )


def leftover_build_relations(url: str) -> list[str]:
    """Half-built views a failed rebuild could have left behind (there must be none)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and relname like '%%\\_\\_build%%'",
            (ANALYTICS_SCHEMA,),
        ).fetchall()
    return [row[0] for row in rows]
