"""The straightforward implementation of the same eleven views, the benchmark's yardstick.

Written the way a data team would start: one materialized view per gold view in schema
``reference``, each aggregating the plain views of the facts
(``analytics.order_facts_live``, ``analytics.stock_facts_live``) itself, with nothing
stored in between, and a unique index on its grain so that it can be refreshed
``CONCURRENTLY``. The SQL is the views' SQL from before the facts and rollups were
stored (a file here per view that changed since; the others are the view's own SQL over
the live facts), with the same results by construction; :func:`differences` checks that
the project's views still hold exactly these rows. It lives here, in the benchmark
package, never in the product.
"""

from __future__ import annotations

import re
import time
from importlib import resources

import psycopg
from psycopg import sql

from soleflip_bi.database.tuning import apply_refresh_settings
from soleflip_bi.views.registry import VIEWS, ViewSpec, get_view

REFERENCE_SCHEMA = "reference"


# A view whose SQL the stored facts did not change is its own reference, read from the
# plain views of the facts instead of the stored tables.
LIVE_INSTEAD_OF_STORED = {
    "analytics.stock_aging": "reference.stock_aging",
    "analytics.stock_facts": "analytics.stock_facts_live",
    "analytics.order_facts": "analytics.order_facts_live",
}


def reference_sql(name: str) -> str:
    """The reference's SQL of a view (or of its stock aging): its file here, else the
    view's own SQL over the live facts."""
    own = resources.files("soleflip_bi_tests.benchmarks.reference").joinpath(f"{name}.sql")
    if own.is_file():
        return own.read_text().strip().rstrip(";")
    text = get_view(name).sql.strip().rstrip(";")
    for stored, live in LIVE_INSTEAD_OF_STORED.items():
        text = re.sub(rf"{re.escape(stored)}\b", live, text)
    return text


def reference_view(name: str) -> sql.Identifier:
    return sql.Identifier(REFERENCE_SCHEMA, name)


def create_reference(conn: psycopg.Connection) -> dict[str, float]:
    """(Re)create every reference view; return the seconds each build took."""
    seconds = {}
    with conn.transaction():
        conn.execute(
            sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(REFERENCE_SCHEMA))
        )
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(REFERENCE_SCHEMA)))
        conn.execute(reference_sql("stock_aging"))
    for spec in VIEWS:
        started = time.perf_counter()
        with conn.transaction():
            apply_refresh_settings(conn)
            conn.execute(
                sql.SQL("create materialized view {} as {}").format(
                    reference_view(spec.name), sql.SQL(reference_sql(spec.name))
                )
            )
            conn.execute(
                sql.SQL("create unique index on {} ({})").format(
                    reference_view(spec.name),
                    sql.SQL(", ").join(map(sql.Identifier, spec.grain)),
                )
            )
        seconds[spec.name] = time.perf_counter() - started
    return seconds


def refresh_reference(conn: psycopg.Connection, spec: ViewSpec, concurrently: bool) -> float:
    keyword = sql.SQL("concurrently ") if concurrently else sql.SQL("")
    started = time.perf_counter()
    with conn.transaction():
        apply_refresh_settings(conn)
        conn.execute(
            sql.SQL("refresh materialized view {}{}").format(keyword, reference_view(spec.name))
        )
    return time.perf_counter() - started


def differences(conn: psycopg.Connection, spec: ViewSpec) -> int:
    """Rows in the project's view and not in the reference's, plus the other way round."""
    project = sql.Identifier("analytics", spec.name)
    reference = reference_view(spec.name)
    row = conn.execute(
        sql.SQL(
            "select (select count(*) from (table {a} except all table {b}) x)"
            " + (select count(*) from (table {b} except all table {a}) y)"
        ).format(a=project, b=reference)
    ).fetchone()
    return int(row[0])


def column_types(conn: psycopg.Connection, schema: str, name: str) -> list[tuple[str, str]]:
    return conn.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
        "where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped "
        "order by a.attnum",
        (f"{schema}.{name}",),
    ).fetchall()
