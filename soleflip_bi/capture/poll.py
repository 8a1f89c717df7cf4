"""Reading the change log: which committed changes happened since the last look.

The cursor is a PostgreSQL snapshot (``pg_current_snapshot()``). A change row is new when
it is visible in the current snapshot and was not visible in the previous one. Changes
still in flight are invisible now and will be visible next time, so no committed change
is missed or seen twice, whatever order transactions commit in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from soleflip_bi.capture.install import ChangeCaptureMissing, change_capture_installed
from soleflip_bi.shared.catalogue import Source


@dataclass(frozen=True)
class ChangePoll:
    snapshot: str
    changes: int
    oldest_change: datetime | None
    newest_change: datetime | None
    database_now: datetime
    # statements per operation (INSERT, UPDATE, DELETE, TRUNCATE, LOAD, MATURED), all sources
    operations: dict[str, int] = field(default_factory=dict)
    # the same per source: only the sources that changed
    by_source: dict[Source, dict[str, int]] = field(default_factory=dict)

    @property
    def sources(self) -> list[Source]:
        """The sources that changed, in the catalogue's order."""
        return [source for source in Source if source in self.by_source]


def poll_changes(
    conn: psycopg.Connection, sources: Iterable[Source], since: str | None
) -> ChangePoll:
    """Committed changes of ``sources`` not visible in snapshot ``since`` (all, if None).

    One snapshot for every source: a transaction that wrote an order and its stock item is
    seen by the same poll, whole."""
    if not change_capture_installed(conn):
        raise ChangeCaptureMissing(
            "change capture is not installed in the target database; "
            "run `soleflip-bi db install-change-capture` (needs ownership of the source tables)"
        )
    conn.commit()
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    with conn.transaction():
        snapshot, now = conn.execute("select pg_current_snapshot()::text, now()").fetchone()
        rows = conn.execute(
            """
            select source, operation, count(*), min(changed_at), max(changed_at)
            from soleflip_bi.source_change
            where source = any(%(sources)s)
              and (%(since)s::pg_snapshot is null
                   or (xid >= pg_snapshot_xmin(%(since)s::pg_snapshot)
                       and not pg_visible_in_snapshot(xid, %(since)s::pg_snapshot)))
            group by source, operation
            """,
            {"sources": [source.value for source in sources], "since": since},
        ).fetchall()
    by_source: dict[Source, dict[str, int]] = {}
    operations: dict[str, int] = {}
    for source, operation, count, _, _ in rows:
        by_source.setdefault(Source(source), {})[operation] = int(count)
        operations[operation] = operations.get(operation, 0) + int(count)
    oldest = min((row[3] for row in rows), default=None)
    newest = max((row[4] for row in rows), default=None)
    return ChangePoll(
        snapshot, sum(operations.values()), oldest, newest, now, operations, by_source
    )


RETENTION = "2 days"


def prune_changes(conn: psycopg.Connection, source: Source, seen: str) -> int:
    """Delete change rows this sensor has seen and that are older than the retention.

    The retention outlives the window in which a view refresh may compare against an old
    baseline (``bookkeeping/baseline.SKIP_HORIZON``), so pruning never hides a change from it.
    """
    with conn.transaction():
        cur = conn.execute(
            f"""
            delete from soleflip_bi.source_change
            where source = %s and xid < pg_snapshot_xmin(%s::pg_snapshot)
              and changed_at < now() - interval '{RETENTION}'
            """,
            (source.value, seen),
        )
    return cur.rowcount
