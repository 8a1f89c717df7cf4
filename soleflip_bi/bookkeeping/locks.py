"""Advisory locks that order the project's own work in PostgreSQL.

* one per view: two refreshes of a view never overlap, whichever process runs them;
* the facts lock: the stored order facts are rebuilt (exclusive) only while no view
  refresh reads them (shared). TRUNCATE is not MVCC-safe, so a reader must not start its
  snapshot before a rebuild and read the table after it.

Lock order is always facts, then view, so the two kinds cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

FACTS_LOCK = "soleflip_bi:order_facts"


def lock_key(name: str) -> str:
    return f"soleflip_bi:{name}"


@contextmanager
def reading_facts(conn: psycopg.Connection) -> Iterator[None]:
    """Hold the facts lock in shared mode for the duration (session-level)."""
    with _session_lock(conn, FACTS_LOCK, shared=True):
        yield


@contextmanager
def holding(conn: psycopg.Connection, name: str) -> Iterator[None]:
    """Hold the named lock exclusively (session-level) for the duration.

    Taken *before* a REPEATABLE READ transaction begins: its snapshot is then taken after
    the previous holder committed. Taken inside the transaction, the lock would come after
    the snapshot, and a second refresh would work on data the first one had already
    replaced (serialization failures in REFRESH CONCURRENTLY and the facts maintenance).
    """
    with _session_lock(conn, name, shared=False):
        yield


@contextmanager
def _session_lock(conn: psycopg.Connection, name: str, *, shared: bool) -> Iterator[None]:
    lock, unlock = (
        ("pg_advisory_lock_shared", "pg_advisory_unlock_shared")
        if shared
        else ("pg_advisory_lock", "pg_advisory_unlock")
    )
    conn.execute(
        sql.SQL("select {}(hashtextextended(%s, 0))").format(sql.Identifier(lock)), (name,)
    )
    conn.commit()
    try:
        yield
    finally:
        if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            conn.rollback()
        if not conn.closed:
            conn.execute(
                sql.SQL("select {}(hashtextextended(%s, 0))").format(sql.Identifier(unlock)),
                (name,),
            )
            conn.commit()
