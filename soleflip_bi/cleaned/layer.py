"""Apply the cleaned layer: reference data (with ECB's rates on a new database), the
checked views and the stored facts."""

from __future__ import annotations

import hashlib
import logging
from importlib import resources

import psycopg
from psycopg import sql

from soleflip_bi.capture.install import change_capture_installed, install_change_capture
from soleflip_bi.cleaned.rates import load_shipped_rates_if_empty
from soleflip_bi.cleaned.rates_upgrade import keep_shop_rates, take_fixed_rates
from soleflip_bi.cleaned.rollups import FACTS, STOCK, create_rollups, rollups_hash
from soleflip_bi.database.comments import comment_on_columns
from soleflip_bi.shared import settings
from soleflip_bi.shared.columns import Column, load_columns

# Plain views that only the cleaned layer itself builds on: when a release changes their
# columns they are dropped and created again. The stock side (stock_checked, stock_facts,
# stock_aging) has gold views on top, so its views only ever gain columns at the end.
REPLACEABLE_VIEWS = (
    "stock_with_sales_live",
    "stock_facts_live",
    "source_quality_issues",
    "order_facts_live",
    "order_checked",
    "order_classified",
)


# The stored tables the gold views read; their columns are described beside their SQL.
DOCUMENTED_TABLES = ("order_facts", "stock_facts")


def documented_columns(table: str) -> tuple[Column, ...]:
    """Each column's type and meaning (``cleaned/sql/<table>.columns.toml``)."""
    return load_columns("soleflip_bi.cleaned", f"sql/{table}")


def cleaned_sql_files() -> list[tuple[str, str]]:
    folder = resources.files("soleflip_bi.cleaned").joinpath("sql")
    files = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name, folder.joinpath(name).read_text()) for name in files]


def cleaned_layer_hash() -> str:
    digest = hashlib.sha256()
    for name, text in cleaned_sql_files():
        digest.update(name.encode() + text.encode())
    digest.update(rollups_hash().encode())
    return digest.hexdigest()[:16]


def apply_cleaned_layer(conn: psycopg.Connection) -> list[str]:
    """Create or replace the cleaned layer in one transaction (idempotent); return what an
    upgrade of an older release's data changed, one line each, for the caller to show.

    Raises RatesUpgradeBlocked (one sentence, nothing changed) when an older release's
    rates table cannot be upgraded without dropping someone else's object."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtextextended('soleflip_bi:cleaned', 0))")
        fixed = take_fixed_rates(conn, REPLACEABLE_VIEWS)
        for name, text in cleaned_sql_files():
            if name.startswith("02"):
                _drop_outdated_facts_table(conn, "stock_facts", "stock_facts_live")
            if name.startswith("03"):
                _drop_outdated_facts_table(conn, "order_facts", "order_facts_live")
            _apply_file(conn, text)
            if name.startswith("03"):  # the rollups of the order facts, which 04- read
                create_rollups(conn, FACTS)
            if name.startswith("05"):  # and those of the stock with its sales
                if _drop_outdated_facts_table(conn, "stock_with_sales", "stock_with_sales_live"):
                    _apply_file(conn, text)  # again, with the live view's columns
                create_rollups(conn, STOCK)
        describe_stored_tables(conn)
        load_shipped_rates_if_empty(conn)
        notes = keep_shop_rates(conn, fixed).notes() if fixed is not None else []
        _install_change_capture_if_allowed(conn)
        conn.execute(
            "insert into analytics.reporting_setting (name, value) values "
            "('timezone', %s), ('cleaned_layer_hash', %s) "
            "on conflict (name) do update set value = excluded.value",
            (settings.shop_timezone(), cleaned_layer_hash()),
        )
    return notes


def _apply_file(conn: psycopg.Connection, text: str) -> None:
    """Run one file; when a view in it changed its columns, drop the replaceable views
    (CREATE OR REPLACE VIEW cannot rename, retype or remove columns) and run it again."""
    try:
        with conn.transaction():
            conn.execute(text)
    except psycopg.errors.InvalidTableDefinition:
        conn.execute(
            sql.SQL("drop view if exists {}").format(
                sql.SQL(", ").join(sql.Identifier("analytics", v) for v in REPLACEABLE_VIEWS)
            )
        )
        conn.execute(text)


def _install_change_capture_if_allowed(conn: psycopg.Connection) -> None:
    """Install the change log triggers when our role owns the source tables.

    Skipping unchanged refreshes and the sensors rely on them; a role that does not own
    the sources gets a warning and a DBA runs `soleflip-bi db install-change-capture`.
    """
    if change_capture_installed(conn):
        return
    try:
        install_change_capture(conn)
    except psycopg.errors.InsufficientPrivilege:
        logging.getLogger(__name__).warning(
            "change capture is not installed and this role may not install it: every "
            "refresh does full work; run `soleflip-bi db install-change-capture` as owner"
        )


def _drop_outdated_facts_table(conn: psycopg.Connection, table: str, live: str) -> bool:
    """Drop a stored facts table when it is no longer a table of its live view's columns.

    Its columns follow the live view; when they change, the table (and the gold views
    built on it, which their next refresh recreates) must go. Columns only change with a
    release, never during normal operation.
    """
    stored = sql.Identifier("analytics", table)
    kind = conn.execute(
        "select relkind from pg_class where oid = to_regclass(%s)", (f"analytics.{table}",)
    ).fetchone()
    if kind is None:
        return False
    if kind[0] == "v":  # the facts were a plain view before they were stored
        conn.execute(sql.SQL("drop view {} cascade").format(stored))
        return True
    if not conn.execute("select to_regclass(%s) is not null", (f"analytics.{live}",)).fetchone()[0]:
        return False
    same = conn.execute(
        """
        select array(select (attname, atttypid) from pg_attribute
                     where attrelid = to_regclass(%(table)s) and attnum > 0
                       and not attisdropped order by attnum)::text
             = array(select (attname, atttypid) from pg_attribute
                     where attrelid = to_regclass(%(live)s) and attnum > 0
                       and not attisdropped order by attnum)::text
        """,
        {"table": f"analytics.{table}", "live": f"analytics.{live}"},
    ).fetchone()[0]
    if not same:
        conn.execute(sql.SQL("drop table {} cascade").format(stored))
    return not same


def ensure_cleaned_layer(conn: psycopg.Connection) -> list[str] | None:
    """Apply the cleaned layer if it is missing or older than the code; return None when it
    was current, else what an upgrade changed (``apply_cleaned_layer``; usually nothing).

    Every view refresh calls this, so a view can be refreshed on a fresh database and a
    changed time zone setting takes effect without a separate step.
    """
    current = cleaned_layer_current(conn)
    conn.commit()
    if current:
        try:
            with conn.transaction():
                describe_stored_tables(conn)
        except psycopg.errors.InsufficientPrivilege:
            pass  # a role that does not own the facts (a reader): the refresh role sets them
        return None
    return apply_cleaned_layer(conn)


def describe_stored_tables(conn: psycopg.Connection) -> tuple[str, ...]:
    """Set the column comments of the stored facts where they differ from their
    ``.columns.toml`` (in place: descriptions are not part of the layer's hash, so a
    corrected one rebuilds nothing); return the columns set, as ``table.column``."""
    return tuple(
        f"{table}.{column}"
        for table in DOCUMENTED_TABLES
        for column in comment_on_columns(conn, "analytics", table, documented_columns(table))
    )


def cleaned_layer_current(conn: psycopg.Connection) -> bool:
    """Whether the database holds this code's cleaned layer, for the configured time zone."""
    stored = _stored_settings(conn)
    return (
        stored.get("cleaned_layer_hash") == cleaned_layer_hash()
        and stored.get("timezone") == settings.shop_timezone()
    )


def _stored_settings(conn: psycopg.Connection) -> dict[str, str]:
    exists = conn.execute("select to_regclass('analytics.reporting_setting') is not null")
    if not exists.fetchone()[0]:
        return {}
    rows = conn.execute("select name, value from analytics.reporting_setting").fetchall()
    return dict(rows)


def quality_issues(
    conn: psycopg.Connection, per_reason: int = 5
) -> dict[tuple[str, str, str], tuple[int, list[str]]]:
    """Rows of analytics.source_quality_issues per (table, reason, severity), each with a
    few ids so someone can go and look at the rows; one pass over the sources."""
    rows = conn.execute(
        """
        select source_table, reason, severity, count(*),
               (array_agg(row_id::text order by row_id))[1:%s]
        from analytics.source_quality_issues group by 1, 2, 3 order by 1, 2, 3
        """,
        (per_reason,),
    ).fetchall()
    return {
        (table, reason, severity): (int(n), list(ids)) for table, reason, severity, n, ids in rows
    }


def quality_issue_counts(conn: psycopg.Connection) -> dict[tuple[str, str, str], int]:
    """Rows of analytics.source_quality_issues per (table, reason, severity)."""
    return {key: n for key, (n, _) in quality_issues(conn, per_reason=0).items()}
