"""The stored order facts: maintained once per source change, read by every gold view.

Computing the facts (every order joined to its stock item, product, brand, platform and
rate) costs more than most aggregations over them, so doing it once instead of once per
view is the largest single saving of a refresh cycle (docs/BENCHMARKS.md).

* nothing changed since the last maintenance            -> nothing to do;
* only orders and stock items changed, few of them      -> incremental: the facts of the
  orders touched (directly or through their stock item) are deleted and recomputed;
* dimensions, reference data, definitions, a bulk load  -> full rebuild.
"""

from __future__ import annotations

from enum import StrEnum

import psycopg

from soleflip_bi.bookkeeping.baseline import (
    Baseline,
    current_baseline,
    ensure_bookkeeping,
    last_refresh,
    record_refresh,
    unchanged_since_last_refresh,
)
from soleflip_bi.bookkeeping.locks import FACTS_LOCK, holding
from soleflip_bi.database.tuning import apply_refresh_settings

FACTS_NAME = "order_facts"
# Above this share of all orders touched, one full rebuild is cheaper than the lookups.
INCREMENTAL_LIMIT = 0.05

AFFECTED_ORDERS = """
with changed as (
    select source, row_id from soleflip_bi.changed_row
    where xid >= pg_snapshot_xmin(%(since)s::pg_snapshot)
      and not pg_visible_in_snapshot(xid, %(since)s::pg_snapshot)
)
select array(
    select row_id from changed where source = 'orders'
    union
    select o.id from sales."order" o
    join changed c on c.source = 'inventory' and o.inventory_item_id = c.row_id
)
"""

# Changes that row ids cannot describe: dimensions, truncates, bulk loads.
BROAD_CHANGES = """
select exists (
    select from soleflip_bi.source_change
    where xid >= pg_snapshot_xmin(%(since)s::pg_snapshot)
      and not pg_visible_in_snapshot(xid, %(since)s::pg_snapshot)
      and (source not in ('orders', 'inventory') or operation in ('TRUNCATE', 'LOAD')))
"""


class FactsMode(StrEnum):
    SKIPPED = "skipped"
    INCREMENTAL = "incremental"
    REBUILD = "rebuild"


def refresh_order_facts(conn: psycopg.Connection, force: bool = False) -> FactsMode:
    """Bring analytics.order_facts up to date with the sources; return what it took."""
    ensure_bookkeeping(conn)
    conn.commit()
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    with holding(conn, FACTS_LOCK), conn.transaction():
        apply_refresh_settings(conn)
        baseline = current_baseline(conn)
        definition = baseline.cleaned_hash or ""
        if not force and unchanged_since_last_refresh(conn, FACTS_NAME, definition, baseline):
            return FactsMode.SKIPPED
        affected = None if force else _affected_orders(conn, baseline)
        if affected is None:
            conn.execute("truncate analytics.order_facts")
            rows = conn.execute(
                "insert into analytics.order_facts select * from analytics.order_facts_live"
            ).rowcount
            conn.execute("analyze analytics.order_facts")
            mode = FactsMode.REBUILD
        else:
            conn.execute("delete from analytics.order_facts where order_id = any(%s)", (affected,))
            rows = conn.execute(
                "insert into analytics.order_facts "
                "select * from analytics.order_facts_live where order_id = any(%s)",
                (affected,),
            ).rowcount
            mode = FactsMode.INCREMENTAL
        record_refresh(conn, FACTS_NAME, mode.value, definition, rows, baseline)
    return mode


def _affected_orders(conn: psycopg.Connection, now: Baseline) -> list | None:
    """Ids of the orders whose facts may differ since the last maintenance, or None when
    only a full rebuild is safe (or cheaper)."""
    last = last_refresh(conn, FACTS_NAME)
    if (
        last is None
        or last.source_snapshot is None
        or (last.cleaned_hash, last.reference_checksum)
        != (now.cleaned_hash, now.reference_checksum)
        or not _row_log_installed(conn)
    ):
        return None
    since = {"since": last.source_snapshot}
    if conn.execute(BROAD_CHANGES, since).fetchone()[0]:
        return None
    affected = conn.execute(AFFECTED_ORDERS, since).fetchone()[0]
    total = conn.execute(
        "select greatest(reltuples, 1) from pg_class where oid = 'sales.order'::regclass"
    ).fetchone()[0]
    return affected if len(affected) <= INCREMENTAL_LIMIT * total else None


def _row_log_installed(conn: psycopg.Connection) -> bool:
    return bool(
        conn.execute("select to_regclass('soleflip_bi.changed_row') is not null").fetchone()[0]
    )
