"""The stored order facts: rebuilt once per source change, read by every gold view.

Computing the facts (every order joined to its stock item, product, brand, platform and
rate) costs more than most aggregations over them, so doing it once instead of once per
view is the largest single saving of a refresh cycle (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import psycopg

from soleflip_bi.bookkeeping.baseline import (
    current_baseline,
    ensure_bookkeeping,
    record_refresh,
    unchanged_since_last_refresh,
)
from soleflip_bi.bookkeeping.locks import FACTS_LOCK, lock_exclusively
from soleflip_bi.database.tuning import apply_refresh_settings

FACTS_NAME = "order_facts"


def refresh_order_facts(conn: psycopg.Connection, force: bool = False) -> bool:
    """Rebuild analytics.order_facts unless no source changed; return whether it did."""
    ensure_bookkeeping(conn)
    conn.commit()
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    with conn.transaction():
        lock_exclusively(conn, FACTS_LOCK)
        apply_refresh_settings(conn)
        baseline = current_baseline(conn)
        if not force and unchanged_since_last_refresh(
            conn, FACTS_NAME, baseline.cleaned_hash or "", baseline
        ):
            return False
        conn.execute("truncate analytics.order_facts")
        rows = conn.execute(
            "insert into analytics.order_facts select * from analytics.order_facts_live"
        ).rowcount
        conn.execute("analyze analytics.order_facts")
        record_refresh(conn, FACTS_NAME, "rebuild", baseline.cleaned_hash or "", rows, baseline)
    return True
