"""Whether a refresh can be skipped because nothing the view reads has changed.

A refresh records the PostgreSQL snapshot it read (REPEATABLE READ), the cleaned layer's
hash and a checksum of the small reference tables. The exchange rates, too many rows for
a checksum, log their changes to the change log like a source
(``cleaned/sql/01_reference_data.sql``). The next refresh is skipped, doing no work in
PostgreSQL, when the change log (statement triggers on every source table, installed
with change capture) holds no change invisible to that snapshot, the definitions and
reference data are the same, and it is still the same day (ages such as days_in_stock
move daily). Without change capture installed, nothing is ever skipped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from soleflip_bi.shared.settings import refresh_log_retention_days

# A baseline older than this is not trusted: the change log keeps two days (see
# automation/change_capture.prune_changes), so this leaves a wide margin.
SKIP_HORIZON = "20 hours"

REFERENCE_CHECKSUM = """
select md5(concat_ws('|',
    (select string_agg(t::text, ',' order by t::text) from analytics.order_status t),
    (select string_agg(t::text, ',' order by t::text) from analytics.stock_status t),
    (select string_agg(t::text, ',' order by t::text) from analytics.classification_threshold t),
    (select string_agg(t::text, ',' order by t::text) from analytics.reporting_setting t)))
"""


@dataclass(frozen=True)
class Baseline:
    """What the current refresh reads; stored with it in soleflip_bi.refresh_log."""

    source_snapshot: str | None
    cleaned_hash: str | None
    reference_checksum: str


def current_baseline(conn: psycopg.Connection, snapshot: str | None = None) -> Baseline:
    """The baseline of what this transaction reads; ``snapshot`` overrides the snapshot
    when the data read is older than the transaction (the stored facts)."""
    current, cleaned = conn.execute(
        "select pg_current_snapshot()::text, (select value from analytics.reporting_setting "
        "where name = 'cleaned_layer_hash')"
    ).fetchone()
    checksum = conn.execute(REFERENCE_CHECKSUM).fetchone()[0]
    return Baseline(snapshot or current, cleaned, checksum)


def last_refresh(conn: psycopg.Connection, name: str) -> Baseline | None:
    """The baseline recorded by the last refresh of ``name``."""
    row = conn.execute(
        "select source_snapshot, cleaned_hash, reference_checksum from soleflip_bi.refresh_log "
        "where view_name = %s and mode <> 'skipped' order by id desc limit 1",
        (name,),
    ).fetchone()
    return Baseline(*row) if row else None


def last_snapshot(conn: psycopg.Connection, name: str) -> str | None:
    """The source snapshot of the last recorded refresh of ``name``."""
    last = last_refresh(conn, name)
    return last.source_snapshot if last else None


def ensure_bookkeeping(conn: psycopg.Connection) -> None:
    """Create or upgrade the bookkeeping tables, unless they are current already.

    Every refresh calls this; the DDL (ALTER TABLE ... ADD COLUMN IF NOT EXISTS) takes an
    ACCESS EXCLUSIVE lock on refresh_log even when there is nothing to do, which deadlocks
    with concurrent refreshes inserting into it. A marker comment says it is current.
    """
    text = resources.files("soleflip_bi.bookkeeping").joinpath("bookkeeping.sql").read_text()
    marker = "soleflip_bi bookkeeping " + hashlib.sha256(text.encode()).hexdigest()[:16]
    current = conn.execute(
        "select obj_description(to_regclass('soleflip_bi.refresh_log'), 'pg_class')"
    ).fetchone()[0]
    if current == marker:
        return
    conn.execute(text)
    conn.execute(
        sql.SQL("comment on table soleflip_bi.refresh_log is {}").format(sql.Literal(marker))
    )


def record_refresh(
    conn: psycopg.Connection,
    name: str,
    mode: str,
    definition_hash: str,
    row_count: int,
    baseline: Baseline,
) -> None:
    conn.execute(
        """
        insert into soleflip_bi.refresh_log
            (view_name, mode, definition_hash, started_at, finished_at, row_count,
             source_snapshot, cleaned_hash, reference_checksum)
        values (%s, %s, %s, now(), clock_timestamp(), %s, %s, %s, %s)
        """,
        (
            name,
            mode,
            definition_hash,
            row_count,
            baseline.source_snapshot,
            baseline.cleaned_hash,
            baseline.reference_checksum,
        ),
    )
    prune_refresh_log(conn, name, refresh_log_retention_days())


def prune_refresh_log(conn: psycopg.Connection, name: str, days: int) -> int:
    """Forget the refreshes of ``name`` older than ``days``, except the newest of each mode
    (what skipping, plans and status read); return how many went."""
    deleted = conn.execute(
        """
        delete from soleflip_bi.refresh_log
        where view_name = %(name)s
          and finished_at < now() - make_interval(days => %(days)s)
          and id <> all (select max(id) from soleflip_bi.refresh_log
                         where view_name = %(name)s group by mode)
        """,
        {"name": name, "days": days},
    )
    return deleted.rowcount


def unchanged_since_last_refresh(
    conn: psycopg.Connection, view_name: str, definition_hash: str, now: Baseline
) -> bool:
    if not _change_log_installed(conn):
        return False
    last = conn.execute(
        f"""
        select source_snapshot, cleaned_hash, reference_checksum
        from soleflip_bi.refresh_log
        where view_name = %s and definition_hash = %s and source_snapshot is not null
          and finished_at::date = current_date and finished_at > now() - interval '{SKIP_HORIZON}'
        order by id desc limit 1
        """,
        (view_name, definition_hash),
    ).fetchone()
    if last is None or (last[1], last[2]) != (now.cleaned_hash, now.reference_checksum):
        return False
    changed = conn.execute(
        """
        select exists (
            select from soleflip_bi.source_change
            where xid >= pg_snapshot_xmin(%(s)s::pg_snapshot)
              and not pg_visible_in_snapshot(xid, %(s)s::pg_snapshot))
        """,
        {"s": last[0]},
    ).fetchone()[0]
    return not changed


def _change_log_installed(conn: psycopg.Connection) -> bool:
    return bool(
        conn.execute("select to_regclass('soleflip_bi.source_change') is not null").fetchone()[0]
    )


def built_from(conn: psycopg.Connection, facts_name: str, views: list[str]) -> str | None:
    """The snapshot of the latest facts maintenance, when every one of ``views`` was last
    built from it (so every change it saw is in them); else None."""
    if not conn.execute("select to_regclass('soleflip_bi.refresh_log') is not null").fetchone()[0]:
        return None
    row = conn.execute(
        """
        with facts as (
            select source_snapshot from soleflip_bi.refresh_log
            where view_name = %(facts)s and mode <> 'skipped' and source_snapshot is not null
            order by id desc limit 1
        )
        select f.source_snapshot from facts f
        where not exists (
            select from unnest(%(views)s::text[]) as v(name)
            where not exists (select from soleflip_bi.refresh_log r
                              where r.view_name = v.name
                                and r.source_snapshot = f.source_snapshot))
        """,
        {"facts": facts_name, "views": views},
    ).fetchone()
    return row[0] if row else None
