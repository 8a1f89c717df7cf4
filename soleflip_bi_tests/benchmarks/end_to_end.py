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
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import psycopg
from psycopg import sql

from soleflip_bi.database.embedded import default_server
from soleflip_bi.shared import settings

BIN = Path(sys.executable).parent
PROJECT_ROOT = settings.PROJECT_ROOT


def _orders_in_view(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select coalesce(sum(total_orders), 0) from analytics.metabase_executive_metrics"
        ).fetchone()[0]


def _wait(predicate, timeout: float, every: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
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


@dataclass
class LatencySample:
    """One order, committed -> visible in metabase_executive_metrics, and where the time
    went, from the run's own records (seconds)."""

    total: float
    parts: dict[str, float] = field(default_factory=dict)


# The parts of a sample, in the order they happen.
LATENCY_PARTS = (
    "commit -> the sensor sees it",
    "quiet window",
    "queued -> launched",
    "launched -> run process started",
    "run started -> first step",
    "steps: cleaned layer",
    "steps: views",
    "of which PostgreSQL (views)",
    "last view step -> visible",
)


def order_to_view_latencies(
    url: str, samples: int = 20, timeout: float = 300
) -> list[LatencySample]:
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
            return _time_orders(url, env, samples, timeout)
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)


def _time_orders(
    url: str, env: dict[str, str], samples: int, timeout: float
) -> list[LatencySample]:
    measured: list[LatencySample] = []
    # let the first ticks catch up with the load and settle
    _wait(lambda: False, 20)
    with instance_for(env) as instance:
        for n in range(samples):
            before = _orders_in_view(url)
            with psycopg.connect(url) as conn:
                conn.execute(
                    'insert into sales."order" (id, status, currency_code, gross_sale, sold_at)'
                    " values (gen_random_uuid(), 'completed', 'EUR', 99, now())"
                )
            committed = time.time()
            if not _wait(lambda b=before: _orders_in_view(url) > b, timeout, every=0.05):
                break
            visible = time.time()
            measured.append(
                LatencySample(visible - committed, _parts(instance, committed, visible))
            )
            time.sleep(2 + (n % 4) * 0.7)  # commits fall at different moments of a tick
    return measured


@contextmanager
def instance_for(env: dict[str, str]) -> Iterator[dg.DagsterInstance]:
    """The Dagster instance of a ``bench_instance`` environment, in this process."""
    saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "DAGSTER_POSTGRES_URL")}
    os.environ.update({k: env[k] for k in saved})
    try:
        with dg.DagsterInstance.get() as instance:
            yield instance
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _parts(instance: dg.DagsterInstance, committed: float, visible: float) -> dict[str, float]:
    """Where the time of one sample went, from the sensor run that made it visible."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={"soleflip/sensor": "source_changes_sensor"}), limit=3
    )
    runs = [r for r in records if r.create_timestamp.timestamp() >= committed]
    if not runs:
        return {}
    record = min(runs, key=lambda r: r.create_timestamp)
    run = record.dagster_run
    events: dict[str, float] = {}
    steps: dict[str, list[float]] = {}
    pg_views = 0.0
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type_value
        events.setdefault(kind, entry.timestamp)
        if kind in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
            steps.setdefault(event.step_key or "", []).append(entry.timestamp)
        if kind == "ASSET_MATERIALIZATION":
            meta = event.event_specific_data.materialization.metadata
            if "duration_seconds" in meta and meta.get("refresh_mode") is not None:
                pg_views += float(meta["duration_seconds"].value)
    created = record.create_timestamp.timestamp()
    quiet = float(run.tags.get("soleflip/quiet_window", 0))
    launched = events.get("PIPELINE_STARTING", created)
    started = events.get("PIPELINE_START", launched)
    cleaned = steps.get("cleaned_layer", [started, started])
    view_steps = [times for key, times in steps.items() if key != "cleaned_layer"]
    views_end = max((t[-1] for t in view_steps), default=cleaned[-1])
    return {
        "commit -> the sensor sees it": max(0.0, created - committed - quiet),
        "quiet window": min(quiet, created - committed),
        "queued -> launched": launched - created,
        "launched -> run process started": started - launched,
        "run started -> first step": cleaned[0] - started,
        "steps: cleaned layer": cleaned[-1] - cleaned[0],
        "steps: views": views_end - cleaned[-1],
        "of which PostgreSQL (views)": pg_views,
        "last view step -> visible": visible - views_end,
    }


def p50(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile by nearest rank (the largest value for a handful of samples)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]
