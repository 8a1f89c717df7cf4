"""Session settings for refresh work, applied per transaction (``SET LOCAL``).

A refresh aggregates up to millions of rows once; the server defaults are sized for the
shop's many small queries. More memory keeps hash aggregates of a million stock items out
of temporary files, and parallel workers use both cores (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import psycopg

REFRESH_SETTINGS: dict[str, str] = {
    "work_mem": "256MB",
    "hash_mem_multiplier": "2",
    "max_parallel_workers_per_gather": "2",
    "maintenance_work_mem": "512MB",
    "max_parallel_maintenance_workers": "2",
    "jit": "off",
}


def apply_refresh_settings(conn: psycopg.Connection) -> None:
    """Apply REFRESH_SETTINGS until the end of the current transaction."""
    for name, value in REFRESH_SETTINGS.items():
        conn.execute("select set_config(%s, %s, true)", (name, value))
