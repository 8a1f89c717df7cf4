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

FACTS_LOCK = "soleflip_bi:order_facts"


def lock_key(name: str) -> str:
    return f"soleflip_bi:{name}"


@contextmanager
def reading_facts(conn: psycopg.Connection) -> Iterator[None]:
    """Hold the facts lock in shared mode for the duration (session-level)."""
    conn.execute("select pg_advisory_lock_shared(hashtextextended(%s, 0))", (FACTS_LOCK,))
    conn.commit()
    try:
        yield
    finally:
        if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            conn.rollback()
        if not conn.closed:
            conn.execute("select pg_advisory_unlock_shared(hashtextextended(%s, 0))", (FACTS_LOCK,))
            conn.commit()


def lock_exclusively(conn: psycopg.Connection, name: str) -> None:
    """Take the named lock until the end of the current transaction."""
    conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (name,))
