"""Load the source schema and a deterministic demo data set into the target database."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from soleflip_bi.shared.catalogue import SOURCE_TABLES
from soleflip_bi.sources.ecb_rates import shipped_last_date

DEFAULT_ORDERS = 1106
DEFAULT_SEED = 42


class DemoLoadRefused(RuntimeError):
    """The target holds data that load-demo did not put there."""


@dataclass(frozen=True)
class LoadReport:
    orders: int
    seed: int
    row_counts: dict[str, int]
    seconds: float


def read_sql(name: str) -> str:
    return resources.files("soleflip_bi.sources").joinpath(name).read_text()


def split_steps(script: str) -> list[tuple[str, str]]:
    """Split a script at its ``-- step: <label>`` lines into (label, sql) pairs."""
    steps: list[tuple[str, list[str]]] = []
    for line in script.splitlines():
        if line.startswith("-- step:"):
            steps.append((line.removeprefix("-- step:").strip(), []))
        elif steps:
            steps[-1][1].append(line)
    return [(label, "\n".join(body)) for label, body in steps]


def apply_source_schema(conn: psycopg.Connection) -> None:
    """Create the source schemas and tables if missing (idempotent)."""
    conn.execute(read_sql("schema.sql"))


def load_demo(
    conn: psycopg.Connection,
    orders: int = DEFAULT_ORDERS,
    seed: int = DEFAULT_SEED,
    force: bool = False,
    progress: Callable[[str], None] = lambda _message: None,
) -> LoadReport:
    """Replace the source tables' contents with demo data, in one transaction.

    A second run replaces the previous demo data. Data that load-demo did not write
    (for instance a real shop database) is never truncated unless ``force`` is given.
    """
    if orders < 1:
        raise ValueError("--orders must be at least 1")
    started = time.perf_counter()
    with conn.transaction():
        apply_source_schema(conn)
        _refuse_foreign_data(conn, force)
        _truncate_sources(conn)
        conn.execute("select set_config('soleflip_demo.seed', %s, true)", (str(seed),))
        conn.execute("select set_config('soleflip_demo.orders', %s, true)", (str(orders),))
        conn.execute(
            "select set_config('soleflip_demo.rates_until', %s, true)",
            (shipped_last_date().isoformat(),),
        )
        _skip_foreign_key_triggers(conn)
        _drop_secondary_indexes(conn)
        for label, statement in split_steps(read_sql("demo_data.sql")):
            step_started = time.perf_counter()
            conn.execute(statement)
            progress(f"{label:<16} {time.perf_counter() - step_started:7.1f} s")
        started_indexes = time.perf_counter()
        apply_source_schema(conn)  # rebuilds the secondary indexes in bulk
        progress(f"{'indexes':<16} {time.perf_counter() - started_indexes:7.1f} s")
        conn.execute("drop schema soleflip_demo cascade")
        conn.execute(
            "create table if not exists public.soleflip_demo_load "
            "(seed bigint not null, orders bigint not null, loaded_at timestamptz not null)"
        )
        conn.execute("truncate public.soleflip_demo_load")
        conn.execute("insert into public.soleflip_demo_load values (%s, %s, now())", (seed, orders))
    counts = {t.qualified_name: _count(conn, t.identifier) for t in SOURCE_TABLES}
    return LoadReport(orders, seed, counts, time.perf_counter() - started)


def _refuse_foreign_data(conn: psycopg.Connection, force: bool) -> None:
    marker = conn.execute("select to_regclass('public.soleflip_demo_load')").fetchone()
    has_orders = conn.execute('select exists (select from sales."order")').fetchone()
    if force or (marker and marker[0]) or not (has_orders and has_orders[0]):
        return
    raise DemoLoadRefused(
        'sales."order" already holds rows that load-demo did not write; refusing to replace '
        "them. Point SOLEFLIP_DATABASE_URL at a scratch database, or pass --force."
    )


def _truncate_sources(conn: psycopg.Connection) -> None:
    tables = sql.SQL(", ").join(t.identifier for t in SOURCE_TABLES)
    conn.execute(sql.SQL("truncate {} cascade").format(tables))


def _skip_foreign_key_triggers(conn: psycopg.Connection) -> None:
    """Skip per-row FK checks (the generator is consistent by construction) when allowed.

    Needs superuser (the embedded server); elsewhere the load simply checks every row.
    """
    try:
        with conn.transaction():
            conn.execute("set local session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        pass


def _drop_secondary_indexes(conn: psycopg.Connection) -> None:
    """Drop the plain indexes of the source tables; building them afterwards is far cheaper
    than maintaining them row by row. Primary keys and unique constraints stay."""
    rows = conn.execute(
        """
        select n.nspname, c.relname
        from pg_index i
        join pg_class c on c.oid = i.indexrelid
        join pg_namespace n on n.oid = c.relnamespace
        where i.indrelid = any(%s::regclass[])
          and not exists (select from pg_constraint k where k.conindid = i.indexrelid)
        """,
        ([t.qualified_name for t in SOURCE_TABLES],),
    ).fetchall()
    for schema, index in rows:
        conn.execute(sql.SQL("drop index {}").format(sql.Identifier(schema, index)))


def _count(conn: psycopg.Connection, table: sql.Identifier) -> int:
    row = conn.execute(sql.SQL("select count(*) from {}").format(table)).fetchone()
    return int(row[0]) if row else 0
