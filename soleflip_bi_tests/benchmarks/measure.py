"""The measurements of one benchmark size, each against a real database."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
from psycopg import sql

from soleflip_bi.capture.install import STATEMENT_TRIGGER
from soleflip_bi.cleaned.facts import refresh_order_facts
from soleflip_bi.cleaned.rates import load_rates
from soleflip_bi.dashboards.render import render_card
from soleflip_bi.dashboards.templates import DASHBOARDS
from soleflip_bi.database.tuning import REFRESH_SETTINGS, apply_refresh_settings
from soleflip_bi.shared.catalogue import Source
from soleflip_bi.sources.ecb_rates import Rate, RateFile
from soleflip_bi.views.materialize import RefreshResult, drop_view, index_ddl, materialize_view
from soleflip_bi.views.registry import VIEWS, Index, ViewSpec, views_refreshed_on
from soleflip_bi_tests.benchmarks.end_to_end import (
    BIN,
    PROJECT_ROOT,
    LatencySample,
    bench_instance,
    instance_for,
)
from soleflip_bi_tests.benchmarks.reference import (
    create_reference,
    differences,
    reference_sql,
    refresh_reference,
)

NEW_ORDERS = 1000
# What an order insert fires: the statement log (sensors) and the row-id log (facts).
CHANGE_CAPTURE_INSERT_TRIGGERS = (STATEMENT_TRIGGER, "soleflip_bi_rows_inserted")
INSERT_ORDERS = """
insert into sales."order" (id, status, currency_code, gross_sale, platform_fee, shipping_cost,
                           inventory_item_id, platform_id, sold_at, buyer_country, buyer_city)
select gen_random_uuid(), 'completed', 'EUR', 100 + n %% 200, 10, 7,
       (select id from inventory.stock offset (n * 7919) %% %(stock)s limit 1),
       (select id from platform.marketplace order by id limit 1 offset n %% 5),
       now() - make_interval(days => n %% 30), 'DE', 'Berlin'
from generate_series(1, %(n)s) as n
"""


@dataclass
class ViewFigures:
    create: float = 0.0
    project_unchanged: float = 0.0
    project_unchanged_mode: str = ""
    project_after_orders: float = 0.0
    project_after_orders_mode: str = ""
    rollover: float = 0.0
    rollover_mode: str = ""
    reference_create: float = 0.0
    reference_plain: float = 0.0
    reference_concurrent: float = 0.0
    differences: int = 0  # rows in which the project's view and the reference's differ
    size_bytes: int = 0
    rows: int = 0
    explain: tuple[float, int, float, int] | None = None  # project ms, buffers; reference


@dataclass
class SizeFigures:
    orders: int
    load_seconds: float = 0.0
    facts_rebuild: float = 0.0
    facts_after_orders: float = 0.0
    facts_rollover: float = 0.0
    views: dict[str, ViewFigures] = field(default_factory=dict)
    cards: dict[str, tuple[float, float]] = field(default_factory=dict)
    orders_sensor_pg_seconds: float = 0.0
    end_to_end: list[float] = field(default_factory=list)
    write_cost_us: float | None = None
    cli_no_change_wall: list[float] = field(default_factory=list)
    temp_bytes: int = 0
    temp_files: int = 0
    peak_backend_kib: int = 0
    # (view, index) -> seconds to build it alone with the refresh's parallel maintenance
    # workers, and with none
    index_builds: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    latency: list[LatencySample] = field(default_factory=list)
    cli_after_orders: list[CliRun] = field(default_factory=list)
    rates: RateFigures | None = None


@dataclass
class RateFigures:
    """One day's USD rate corrected, and what converting by the day costs."""

    day: date
    load: float  # `rates load` of the corrected day
    facts: float  # the maintenance after it
    facts_mode: str
    reconverted: int  # sales the maintenance stored again
    sales_that_day: int  # USD sales of that day (what it should re-convert)
    by_day: float  # every order converted at its day's rate (the cleaned layer's lookup)
    newest_only: float  # the same from a table of one rate per currency (a hash join)


@dataclass
class CliRun:
    """One `views refresh --all` as typed, after +1,000 orders (seconds)."""

    wall: float
    run: float  # the run's first event to its last
    postgres: float  # the facts step's and the views' own refresh seconds
    checks: float  # the checks' own seconds (their SQL)
    events: int  # event records the run wrote


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def add_orders(conn: psycopg.Connection) -> None:
    stock = conn.execute("select count(*) from inventory.stock").fetchone()[0]
    with conn.transaction():
        conn.execute(INSERT_ORDERS, {"n": NEW_ORDERS, "stock": stock})


def project_refresh(conn: psycopg.Connection, figures: SizeFigures) -> dict[str, RefreshResult]:
    """What a refresh run does in PostgreSQL: the facts, then every view."""
    figures.facts_after_orders = timed(lambda: refresh_order_facts(conn))
    return {spec.name: materialize_view(conn, spec) for spec in VIEWS}


def measure_views(conn: psycopg.Connection, figures: SizeFigures) -> None:
    """The project against the reference (``reference/``), on the same data in one run.

    After +1,000 orders, the project refreshes (facts, then every view) and the reference
    is refreshed plainly; after another 1,000, the project again and the reference
    concurrently. The project's figure is the mean of its two refreshes. Then the day
    rolls over (the last refreshes are dated a day back), which rebuilds every view whose
    rows age.
    """
    figures.facts_rebuild = timed(lambda: refresh_order_facts(conn, force=True))
    for spec in VIEWS:
        drop_view(conn, spec)
        view = figures.views[spec.name] = ViewFigures()
        view.create = materialize_view(conn, spec).seconds
        result = materialize_view(conn, spec)
        view.project_unchanged, view.project_unchanged_mode = result.seconds, result.mode.value
    for name, seconds in create_reference(conn).items():
        figures.views[name].reference_create = seconds
    sensor_views = {v.name for v in views_refreshed_on(Source.ORDERS)}

    add_orders(conn)
    first = project_refresh(conn, figures)
    first_facts = figures.facts_after_orders
    figures.orders_sensor_pg_seconds = first_facts + sum(
        first[name].seconds for name in sensor_views
    )
    for spec in VIEWS:
        figures.views[spec.name].reference_plain = refresh_reference(conn, spec, False)

    add_orders(conn)
    second = project_refresh(conn, figures)
    figures.facts_after_orders = (first_facts + figures.facts_after_orders) / 2
    for spec in VIEWS:
        view = figures.views[spec.name]
        view.reference_concurrent = refresh_reference(conn, spec, True)
        view.project_after_orders = (first[spec.name].seconds + second[spec.name].seconds) / 2
        view.project_after_orders_mode = second[spec.name].mode.value
        view.rows, view.size_bytes = second[spec.name].row_count, second[spec.name].size_bytes
        view.differences = differences(conn, spec)
        view.explain = (*_explain(conn, spec.sql), *_explain(conn, reference_sql(spec.name)))

    conn.execute(
        "update soleflip_bi.refresh_log set started_at = started_at - interval '1 day', "
        "finished_at = finished_at - interval '1 day'"
    )
    conn.commit()
    figures.facts_rollover = timed(lambda: refresh_order_facts(conn))
    for spec in VIEWS:
        result = materialize_view(conn, spec)
        view = figures.views[spec.name]
        view.rollover, view.rollover_mode = result.seconds, result.mode.value


def measure_cli_after_orders(url: str, figures: SizeFigures, samples: int = 2) -> None:
    """`views refresh --all` as a user types it, after +1,000 orders: its wall time against
    the seconds PostgreSQL spent refreshing, which the run's own records state."""
    command = [str(BIN / "soleflip-bi"), "views", "refresh", "--all"]
    with bench_instance(url) as (env, _), instance_for(env) as instance:
        subprocess.run(command, env=env, cwd=PROJECT_ROOT, check=True, capture_output=True)
        with psycopg.connect(url) as conn:
            for _ in range(samples):
                add_orders(conn)
                conn.commit()  # add_orders' transaction is a savepoint inside the open one
                wall = timed(
                    lambda: subprocess.run(
                        command, env=env, cwd=PROJECT_ROOT, check=True, capture_output=True
                    )
                )
                [record] = instance.get_run_records(limit=1)
                figures.cli_after_orders.append(
                    _recorded(instance, record.dagster_run.run_id, wall)
                )


def _recorded(instance: dg.DagsterInstance, run_id: str, wall: float) -> CliRun:
    stamps, postgres, checks = [], 0.0, 0.0
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        stamps.append(entry.timestamp)
        if event is None:
            continue
        if event.event_type_value == "ASSET_MATERIALIZATION":
            meta = event.event_specific_data.materialization.metadata
            if "duration_seconds" in meta:
                postgres += float(meta["duration_seconds"].value)
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            meta = event.event_specific_data.metadata
            if "duration_seconds" in meta:
                checks += float(meta["duration_seconds"].value)
    return CliRun(wall, max(stamps) - min(stamps), postgres, checks, len(stamps))


BY_DAY = """
select count(*), sum(round(gross_sale / exchange_rate, 2)) from analytics.order_classified
where reject_reason is null
"""
NEWEST_ONLY = """
select count(*), sum(round(o.gross_sale / coalesce(r.rate, 1.0), 2))
from analytics.order_classified o
left join soleflip_newest_rate r on r.currency = o.sale_currency
where o.reject_reason is null
"""
# One rate per currency, as a table of fixed rates would hold them.
NEWEST_RATES = """
create temporary table soleflip_newest_rate as
select distinct on (currency) currency, rate from analytics.currency_rate
order by currency, rate_date desc
"""


def measure_rate_correction(conn: psycopg.Connection, figures: SizeFigures) -> None:
    """Correct the USD rate of the weekday with the most USD sales and maintain the facts
    (incremental: only that day's USD sales), against the full rebuild of the same run;
    and the cost of the by-day lookup in a full conversion against the newest rate only."""
    conn.commit()
    day, sales = conn.execute(
        "select sale_date, count(*) from analytics.order_facts where currency_code = 'USD' "
        "and extract(isodow from sale_date) between 1 and 4 group by 1 order by 2 desc, 1 "
        "limit 1"
    ).fetchone()
    rate = conn.execute(
        "select rate from analytics.currency_rate where currency = 'USD' and rate_date = %s",
        (day,),
    ).fetchone()[0]
    corrected = RateFile("benchmark", (Rate("USD", day, rate + Decimal("0.01")),))
    load = timed(lambda: load_rates(conn, corrected))
    started = time.perf_counter()
    result = refresh_order_facts(conn)
    facts = time.perf_counter() - started
    conn.commit()
    conn.execute(NEWEST_RATES)
    conn.execute("analyze soleflip_newest_rate")
    figures.rates = RateFigures(
        day,
        load,
        facts,
        result.mode.value,
        result.rows_inserted,
        int(sales),
        timed(lambda: conn.execute(BY_DAY).fetchone()),
        timed(lambda: conn.execute(NEWEST_ONLY).fetchone()),
    )
    conn.commit()


def measure_index_builds(conn: psycopg.Connection, figures: SizeFigures) -> None:
    """What each index costs the views that are built whole on every change (a swap
    refresh builds every index of the new copy): each built alone on the live view and
    rolled back, with the refresh's parallel maintenance workers and with none."""
    conn.commit()
    for spec in VIEWS:
        if spec.swap_refresh:
            for index in spec.indexes:
                figures.index_builds[spec.name, index.name] = (
                    _index_build(
                        conn, spec, index, REFRESH_SETTINGS["max_parallel_maintenance_workers"]
                    ),
                    _index_build(conn, spec, index, "0"),
                )


def _index_build(conn: psycopg.Connection, spec: ViewSpec, index: Index, workers: str) -> float:
    with conn.transaction(force_rollback=True):
        apply_refresh_settings(conn)
        conn.execute("select set_config('max_parallel_maintenance_workers', %s, true)", (workers,))
        return timed(lambda: conn.execute(index_ddl(index, spec.name, f"{index.name}_bench")))


def _explain(conn: psycopg.Connection, query: str) -> tuple[float, int]:
    """EXPLAIN (ANALYZE, BUFFERS) of a view's query: execution ms and buffers touched."""
    with conn.transaction():
        apply_refresh_settings(conn)
        plan = conn.execute(
            sql.SQL("explain (analyze, buffers, format json) {}").format(
                sql.SQL(query.strip().rstrip(";"))
            )
        ).fetchone()[0][0]
    top = plan["Plan"]
    buffers = sum(top.get(f"Shared {kind} Blocks", 0) for kind in ("Hit", "Read"))
    return float(plan["Execution Time"]), int(buffers)


def resource_use(conn: psycopg.Connection) -> tuple[int, int, int]:
    """Temporary files and bytes PostgreSQL wrote for this database so far, and the peak
    resident memory (KiB) of this connection's backend process."""
    files, written, pid = conn.execute(
        "select temp_files, temp_bytes, pg_backend_pid() from pg_stat_database "
        "where datname = current_database()"
    ).fetchone()
    conn.commit()
    peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1])
    return int(files), int(written), peak


def measure_cards(conn: psycopg.Connection, figures: SizeFigures, samples: int) -> None:
    for dashboard in DASHBOARDS:
        for card in dashboard.cards:
            statement = render_card(dashboard, card)
            conn.execute(statement).fetchall()  # warm
            times = []
            for _ in range(samples):
                started = time.perf_counter()
                conn.execute(statement).fetchall()
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            figures.cards[dashboard.card_key(card)] = (statistics.median(times), p95)


def measure_write_cost(conn: psycopg.Connection, figures: SizeFigures, writes: int = 3000) -> None:
    """Per-statement cost of change capture: single-row order inserts with and without it.

    Rounds alternate (with, without, with, ...) and the medians are compared, so drift of
    the machine affects both sides alike.
    """

    def insert_many() -> float:
        with conn.transaction():
            started = time.perf_counter()
            for _ in range(writes):
                conn.execute(
                    'insert into sales."order" (id, status, currency_code, gross_sale, sold_at) '
                    "values (gen_random_uuid(), 'pending', 'EUR', 1, now())"
                )
            elapsed = time.perf_counter() - started
        return elapsed

    def toggle(enabled: bool) -> None:
        action = sql.SQL("enable" if enabled else "disable")
        for trigger in CHANGE_CAPTURE_INSERT_TRIGGERS:
            conn.execute(
                sql.SQL('alter table sales."order" {} trigger {}').format(
                    action, sql.Identifier(trigger)
                )
            )
        conn.commit()

    with_capture, without = [], []
    for _ in range(5):
        with_capture.append(insert_many())
        toggle(False)
        without.append(insert_many())
        toggle(True)
    conn.execute("delete from sales.\"order\" where status = 'pending' and gross_sale = 1")
    conn.commit()
    difference = statistics.median(with_capture) - statistics.median(without)
    figures.write_cost_us = difference / writes * 1e6
