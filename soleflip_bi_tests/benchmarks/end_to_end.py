"""Order committed -> visible in metabase_executive_metrics, through the running daemon."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from soleflip_bi.database.embedded import default_server
from soleflip_bi.shared import settings

BIN = Path(sys.executable).parent


def _orders_in_view(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select coalesce(sum(total_orders), 0) from analytics.metabase_executive_metrics"
        ).fetchone()[0]


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


@contextmanager
def bench_instance(url: str) -> Iterator[tuple[dict[str, str], Path]]:
    """The environment of a temporary Dagster instance (its own home and run storage
    database) for the code location on the database at ``url``; removed afterwards."""
    token = uuid.uuid4().hex[:8]
    home = settings.PROJECT_ROOT / f".tmp_dagster_home_bench_{token}"
    home.mkdir()
    shutil.copyfile(settings.PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    server = default_server()
    storage = f"dagster_bench_{token}"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_POSTGRES_URL": server.create_database(storage),
        "SOLEFLIP_DATABASE_URL": url,
    }
    try:
        yield env, home
    finally:
        shutil.rmtree(home, ignore_errors=True)
        with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(storage))
            )


def cli_no_change_walls(url: str, samples: int = 3) -> list[float]:
    """Wall seconds of `soleflip-bi views refresh --all` when nothing changed, as typed."""
    walls = []
    with bench_instance(url) as (env, _):
        command = [str(BIN / "soleflip-bi"), "views", "refresh", "--all"]
        subprocess.run(command, env=env, cwd=settings.PROJECT_ROOT, check=True, capture_output=True)
        for _ in range(samples):
            started = time.monotonic()
            subprocess.run(
                command, env=env, cwd=settings.PROJECT_ROOT, check=True, capture_output=True
            )
            walls.append(time.monotonic() - started)
    return walls


def order_to_view_latencies(url: str, samples: int = 5, timeout: float = 300) -> list[float]:
    """Start dagster-daemon on a temporary instance and time ``samples`` orders."""
    with bench_instance(url) as (env, home):
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=settings.PROJECT_ROOT,
            env=env,
            stdout=(home / "daemon.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        try:
            return _time_orders(url, samples, timeout)
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)


def _time_orders(url: str, samples: int, timeout: float) -> list[float]:
    latencies: list[float] = []
    # let the first ticks catch up with the load and settle
    _wait(lambda: False, 20)
    for _ in range(samples):
        before = _orders_in_view(url)
        with psycopg.connect(url) as conn:
            conn.execute(
                'insert into sales."order" (id, status, currency_code, gross_sale, sold_at)'
                " values (gen_random_uuid(), 'completed', 'EUR', 99, now())"
            )
        committed = time.monotonic()
        if not _wait(lambda b=before: _orders_in_view(url) > b, timeout):
            break
        latencies.append(time.monotonic() - committed)
        time.sleep(3)
    return latencies


def p50(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile by nearest rank (the largest value for a handful of samples)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]
