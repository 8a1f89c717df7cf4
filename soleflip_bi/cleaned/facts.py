"""The stored facts: maintained once per source change, read by every gold view.

``analytics.order_facts`` (one row per sale) and ``analytics.stock_facts`` (one row per
sound stock item) are maintained together, in one transaction and one snapshot.

Computing the facts (every order joined to its stock item, product, brand, platform and
rate) costs more than most aggregations over them, so doing it once instead of once per
view is the largest single saving of a refresh cycle (docs/BENCHMARKS.md).

* nothing changed since the last maintenance            -> nothing to do;
* only orders, stock items and rates changed, few of them -> incremental: the facts of the
  orders touched (directly, through their stock item or through the rate of their
  currency and day) are deleted and recomputed;
* dimensions, reference data, definitions, a bulk load  -> full rebuild.

The rollups of the facts (``rollups.py``) follow in the same transaction: rebuilt with the
facts, else only the cells of the orders touched.

Each maintenance also brings the independent recount of the sales (``recount.py``) up to
date in the same transaction, so the checks compare the views with the orders they were
built from.

An order dated more than a day ahead is rejected (``future_sold_at``) until that day comes.
Nothing is written to the source when it does, so before each maintenance the orders that
have come due since the last look are written to the change log like any other changed
order (operation ``MATURED``): the facts take them in incrementally, and the views and the
source-changes sensor see a change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import psycopg
from psycopg import sql

from soleflip_bi.bookkeeping.baseline import (
    Baseline,
    current_baseline,
    ensure_bookkeeping,
    last_refresh,
    record_refresh,
    unchanged_since_last_refresh,
)
from soleflip_bi.bookkeeping.locks import FACTS_LOCK, holding
from soleflip_bi.cleaned.recount import recount_all, recount_orders
from soleflip_bi.cleaned.rollups import (
    FACTS,
    STOCK,
    Base,
    create_base_indexes,
    drop_base_indexes,
    maintain_rollups,
    rebuild_rollups,
    start_touched,
)
from soleflip_bi.database.tuning import apply_refresh_settings
from soleflip_bi.shared.catalogue import RATES_STREAM, SOURCE_TABLES

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

# The orders a changed rate applies to: those of its currency dated from its day until the
# next rate of that currency (whatever the change was: a new day, a correction, a removal).
RATE_ORDERS = """
with changed as (
    select distinct currency, rate_date from soleflip_bi.changed_rate
    where xid >= pg_snapshot_xmin(%(since)s::pg_snapshot)
      and not pg_visible_in_snapshot(xid, %(since)s::pg_snapshot)
),
spans as (
    select c.currency, c.rate_date as valid_from,
           coalesce((select min(r.rate_date) from analytics.currency_rate r
                     where r.currency = c.currency and r.rate_date > c.rate_date),
                    'infinity'::date) as valid_until
    from changed c
),
settings as (
    select value as timezone from analytics.reporting_setting where name = 'timezone'
)
select array(
    select distinct o.id from sales."order" o
    cross join settings
    join spans s on s.currency = upper(btrim(o.currency_code))
                and (o.sold_at at time zone settings.timezone)::date >= s.valid_from
                and (o.sold_at at time zone settings.timezone)::date < s.valid_until
)
"""

RATES_CHANGED = """
select exists (
    select from soleflip_bi.changed_rate
    where xid >= pg_snapshot_xmin(%(since)s::pg_snapshot)
      and not pg_visible_in_snapshot(xid, %(since)s::pg_snapshot))
"""

# The change rows this maintenance has consumed: every transaction below the xmin of its
# own snapshot is visible to it, so its changes were taken in now or by an earlier
# maintenance. Nothing else reads these logs, so they are pruned in the same transaction
# (a rollback keeps them); a row only the next maintenance can see is never removed, however
# long no refresh runs.
PRUNE_CONSUMED = (
    "delete from soleflip_bi.changed_rate where xid < pg_snapshot_xmin(pg_current_snapshot())",
    "delete from soleflip_bi.changed_row "
    "where source = any(%(sources)s) and xid < pg_snapshot_xmin(pg_current_snapshot())",
)

CHANGED_STOCK = """
select array(
    select distinct row_id from soleflip_bi.changed_row
    where source = 'inventory'
      and xid >= pg_snapshot_xmin(%(since)s::pg_snapshot)
      and not pg_visible_in_snapshot(xid, %(since)s::pg_snapshot)
)
"""

# Changes that row ids cannot describe: dimensions, truncates, bulk loads.
BROAD_CHANGES = """
select exists (
    select from soleflip_bi.source_change
    where xid >= pg_snapshot_xmin(%(since)s::pg_snapshot)
      and not pg_visible_in_snapshot(xid, %(since)s::pg_snapshot)
      and (source not in ('orders', 'inventory', %(rates)s)
           or operation in ('TRUNCATE', 'LOAD')))
"""


class FactsMode(StrEnum):
    SKIPPED = "skipped"
    INCREMENTAL = "incremental"
    REBUILD = "rebuild"


@dataclass(frozen=True)
class FactsResult:
    """What a maintenance did: its mode and how many stored facts it replaced."""

    mode: FactsMode
    rows_deleted: int = 0
    rows_inserted: int = 0
    seconds: float = 0.0
    stock_rows_deleted: int = 0
    stock_rows_inserted: int = 0


def refresh_order_facts(
    conn: psycopg.Connection, force: bool = False, recount: bool = False
) -> FactsResult:
    """Bring analytics.order_facts up to date with the sources; return what it took.

    ``recount`` recounts the sales from scratch in the same transaction, even when the
    facts had nothing to do (the daily run does, see ``recount.py``)."""
    started = time.perf_counter()
    ensure_bookkeeping(conn)
    conn.commit()
    _log_matured_orders(conn)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    with holding(conn, FACTS_LOCK), conn.transaction():
        apply_refresh_settings(conn)
        baseline = current_baseline(conn)
        definition = baseline.cleaned_hash or ""
        if not force and unchanged_since_last_refresh(conn, FACTS_NAME, definition, baseline):
            if recount:
                recount_all(conn)
            return FactsResult(FactsMode.SKIPPED, seconds=time.perf_counter() - started)
        changed = None if force else _affected(conn, baseline)
        if changed is None:
            stock = _rebuild(conn, "stock_facts")
            deleted, rows = _rebuild_base(conn, FACTS)
            _rebuild_base(conn, STOCK)
            recount_all(conn)
            mode = FactsMode.REBUILD
        else:
            affected, stock_ids = changed
            stock = (
                conn.execute(
                    "delete from analytics.stock_facts where inventory_id = any(%s)", (stock_ids,)
                ).rowcount,
                conn.execute(
                    "insert into analytics.stock_facts "
                    "select * from analytics.stock_facts_live where inventory_id = any(%s)",
                    (stock_ids,),
                ).rowcount,
            )
            touched = start_touched(conn, FACTS)
            deleted = conn.execute(
                sql.SQL(
                    "with gone as (delete from analytics.order_facts where order_id = any(%s) "
                    "returning *) insert into {} select *, -1 from gone"
                ).format(touched),
                (affected,),
            ).rowcount
            rows = conn.execute(
                sql.SQL(
                    "with stored as (insert into analytics.order_facts "
                    "select * from analytics.order_facts_live where order_id = any(%s) "
                    "returning *) insert into {} select *, 1 from stored"
                ).format(touched),
                (affected,),
            ).rowcount
            maintain_rollups(conn, FACTS)
            _maintain_stock_with_sales(conn, stock_ids)
            maintain_rollups(conn, STOCK)
            if recount:
                recount_all(conn)
            else:
                recount_orders(conn, affected, rows - deleted)
            mode = FactsMode.INCREMENTAL
        _prune_consumed(conn)
        record_refresh(conn, FACTS_NAME, mode.value, definition, rows, baseline)
    return FactsResult(
        mode, int(deleted), int(rows), time.perf_counter() - started, int(stock[0]), int(stock[1])
    )


def _prune_consumed(conn: psycopg.Connection) -> None:
    rates, rows = PRUNE_CONSUMED
    conn.execute(rates)
    if _row_log_installed(conn):
        conn.execute(rows, {"sources": [t.stream for t in SOURCE_TABLES if t.row_changes]})


def facts_current(conn: psycopg.Connection) -> bool:
    """Whether a maintenance would find nothing to do: no source changed since the last
    one, no order came due, same definitions (read-only, for callers deciding whether to
    start a refresh at all)."""
    if (
        not _row_log_installed(conn)
        or not conn.execute("select to_regclass('soleflip_bi.refresh_log') is not null").fetchone()[
            0
        ]
    ):
        return False
    baseline = current_baseline(conn)
    if not unchanged_since_last_refresh(conn, FACTS_NAME, baseline.cleaned_hash or "", baseline):
        return False
    return not conn.execute(MATURED_PENDING, {"facts": FACTS_NAME}).fetchone()[0]


def _rebuild(conn: psycopg.Connection, table: str) -> tuple[int, int]:
    """Replace a stored facts table by its live view; return (rows removed, rows stored)."""
    stored, live = sql.Identifier("analytics", table), sql.Identifier("analytics", table + "_live")
    removed = conn.execute(sql.SQL("select count(*) from {}").format(stored)).fetchone()[0]
    conn.execute(sql.SQL("truncate {}").format(stored))
    rows = conn.execute(sql.SQL("insert into {} select * from {}").format(stored, live)).rowcount
    conn.execute(sql.SQL("analyze {}").format(stored))
    return int(removed), int(rows)


def _rebuild_base(conn: psycopg.Connection, base: Base) -> tuple[int, int]:
    """Rebuild a table rollups read, its indexes after the load, then its rollups."""
    drop_base_indexes(conn, base)
    counts = _rebuild(conn, base.table)
    create_base_indexes(conn, base)
    rebuild_rollups(conn, base)
    return counts


def _maintain_stock_with_sales(conn: psycopg.Connection, stock_ids: list) -> None:
    """Store again the stock items that changed or whose sales changed, keeping the rows
    removed and stored for the rollups of the stock."""
    conn.execute(
        sql.SQL(
            "create temporary table soleflip_touched_stock_ids on commit drop as "
            "select unnest(%s::uuid[]) as inventory_id union "
            "select inventory_id from {} where inventory_id is not null"
        ).format(sql.Identifier(FACTS.touched)),
        (stock_ids,),
    )
    touched = start_touched(conn, STOCK)
    conn.execute(
        sql.SQL(
            "with gone as (delete from analytics.stock_with_sales where inventory_id in "
            "(select inventory_id from soleflip_touched_stock_ids) returning *) "
            "insert into {} select *, -1 from gone"
        ).format(touched)
    )
    conn.execute(
        sql.SQL(
            "with stored as (insert into analytics.stock_with_sales "
            "select * from analytics.stock_with_sales_live where inventory_id in "
            "(select inventory_id from soleflip_touched_stock_ids) returning *) "
            "insert into {} select *, 1 from stored"
        ).format(touched)
    )


def _affected(conn: psycopg.Connection, now: Baseline) -> tuple[list, list] | None:
    """Ids of the orders and of the stock items whose facts may differ since the last
    maintenance, or None when only a full rebuild is safe (or cheaper)."""
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
    if conn.execute(BROAD_CHANGES, {**since, "rates": RATES_STREAM}).fetchone()[0]:
        return None
    affected = conn.execute(AFFECTED_ORDERS, since).fetchone()[0]
    if conn.execute(RATES_CHANGED, since).fetchone()[0]:
        affected = sorted({*affected, *conn.execute(RATE_ORDERS, since).fetchone()[0]})
    # due since the MATURED mark written just before this transaction began
    affected += conn.execute(DUE_SINCE_MARK).fetchone()[0]
    stock = conn.execute(CHANGED_STOCK, since).fetchone()[0]
    orders_total, stock_total = conn.execute(
        "select greatest(reltuples, 1) from pg_class where oid = 'sales.order'::regclass "
        "union all "
        "select greatest(reltuples, 1) from pg_class where oid = 'inventory.stock'::regclass"
    ).fetchall()
    if len(affected) > INCREMENTAL_LIMIT * orders_total[0]:
        return None
    if len(stock) > INCREMENTAL_LIMIT * stock_total[0]:
        return None
    return affected, stock


# Orders whose sale date came within a day of now since the last look: the previous
# MATURED mark, else the start of the last maintenance (which judged them by its now()).
MATURED_SINCE = """
with since as (
    select coalesce(
        (select max(changed_at) from soleflip_bi.source_change
         where source = 'orders' and operation = 'MATURED'),
        (select max(started_at) from soleflip_bi.refresh_log
         where view_name = %(facts)s and mode <> 'skipped'),
        now()) as at
)"""
MATURED_ORDERS = (
    MATURED_SINCE
    + """,
due as (
    insert into soleflip_bi.changed_row (source, row_id)
    select 'orders', o.id from sales."order" o, since
    where o.sold_at > since.at + interval '1 day' and o.sold_at <= now() + interval '1 day'
    returning 1
)
insert into soleflip_bi.source_change (source, operation, changed_at)
select 'orders', 'MATURED', now() where exists (select from due)
"""
)
MATURED_PENDING = (
    MATURED_SINCE
    + """
select exists (select from sales."order" o, since
               where o.sold_at > since.at + interval '1 day'
                 and o.sold_at <= now() + interval '1 day')
"""
)


DUE_SINCE_MARK = """
select array(
    select o.id from sales."order" o
    where o.sold_at > (select max(changed_at) from soleflip_bi.source_change
                       where source = 'orders' and operation = 'MATURED') + interval '1 day'
      and o.sold_at <= now() + interval '1 day')
"""


def _log_matured_orders(conn: psycopg.Connection) -> None:
    """Log the orders that stopped being in the future since the last look (committed
    before the maintenance starts, so its snapshot sees them as changed)."""
    if _row_log_installed(conn):
        conn.execute(MATURED_ORDERS, {"facts": FACTS_NAME})
    conn.commit()


def _row_log_installed(conn: psycopg.Connection) -> bool:
    return bool(
        conn.execute("select to_regclass('soleflip_bi.changed_row') is not null").fetchone()[0]
    )
