"""A run's process is alive exactly while the shop database says so.

The process that executes a refresh step of a Dagster run (the run worker, or `views
refresh` itself) holds a session-level advisory lock named for its run, in shared mode,
for the whole step, its wait for earlier runs included (``run_order.refresh_step``).
PostgreSQL releases a session's locks when the session ends, and the session ends when
the process does: a ``kill -9``, an out-of-memory kill, a crashed code server taking its
workers along. No heartbeat and
no tag can say that, because nothing is left to update them.

The sessions of a run are told to notice a vanished client quickly:

* ``client_connection_check_interval`` (PostgreSQL 14+): a backend busy with a statement,
  or waiting for a lock, polls its socket and ends when the client is gone. An idle
  backend notices at once (its read returns end of file).
* TCP keepalives: a client host that vanished without closing its connections (a power
  cut) is found dead after ``idle + interval * count`` seconds.
"""

from __future__ import annotations

from importlib import resources

import psycopg

# Seconds; with these, a session whose client disappeared ends within about a minute.
CLIENT_CHECK_SECONDS = 5
KEEPALIVE_IDLE_SECONDS = 30
KEEPALIVE_INTERVAL_SECONDS = 10
KEEPALIVE_COUNT = 3

SESSION_OPTIONS = (
    f"-c client_connection_check_interval={CLIENT_CHECK_SECONDS * 1000} "
    f"-c tcp_keepalives_idle={KEEPALIVE_IDLE_SECONDS} "
    f"-c tcp_keepalives_interval={KEEPALIVE_INTERVAL_SECONDS} "
    f"-c tcp_keepalives_count={KEEPALIVE_COUNT}"
)
# libpq's side of the same: a server that vanished is noticed by the run as well.
CLIENT_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": KEEPALIVE_IDLE_SECONDS,
    "keepalives_interval": KEEPALIVE_INTERVAL_SECONDS,
    "keepalives_count": KEEPALIVE_COUNT,
}


HELD_LOCKS = (
    resources.files("soleflip_bi.database").joinpath("sql", "processes_alive.sql").read_text()
)


def liveness_lock(run_id: str) -> str:
    return f"soleflip_bi:run:{run_id}"


def hold_liveness(url: str, run_id: str) -> psycopg.Connection:
    """A new session holding ``run_id``'s liveness lock (shared: every process of the run
    holds it); the lock lasts as long as the session, which the caller closes at the end."""
    conn = psycopg.connect(
        url,
        autocommit=True,
        application_name=f"soleflip-bi run {run_id[:8]}",
        options=SESSION_OPTIONS,
        **CLIENT_KEEPALIVES,
    )
    try:
        conn.execute(
            "select pg_advisory_lock_shared(hashtextextended(%s, 0))", (liveness_lock(run_id),)
        )
    except BaseException:
        conn.close()
        raise
    return conn


def processes_alive(conn: psycopg.Connection, run_ids: list[str]) -> set[str]:
    """Those of ``run_ids`` whose liveness lock a session holds, read from ``pg_locks``
    (visible to every role, and taking no lock itself)."""
    if not run_ids:
        return set()
    keys = {liveness_lock(run_id): run_id for run_id in run_ids}
    rows = conn.execute(HELD_LOCKS, (list(keys),)).fetchall()
    return {keys[name] for (name,) in rows}
