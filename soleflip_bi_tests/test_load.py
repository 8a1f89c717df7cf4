"""Load: 20 writers on the shop tables while the sensor ticks and refreshes run.

Writers commit sales (a stock item and its order), repricings, purchases and stock moves
over loopback; the source-changes sensor ticks about every second; its runs and
a compressed hourly schedule execute in worker processes (2 in CI, 3 in the slow run, so
that the analytics_refresh pool limit of 2 binds) against the real code location and a
real Dagster instance. Afterwards, one more tick and refresh, then:

* no write failed because of the project (triggers, locks);
* every committed order is in the views the sensor refreshes, with its last price,
  and every committed stock item is in the per-item inventory view (views refreshed only
  on schedule, like brand analytics, are the schedules' business);
* never two refreshes of one view at once (pg_stat_activity samples and refresh_log);
* at most one requested-but-not-started run of the sensor at any time.

The CI variant runs 12 s with a 4 s burst limit; the slow one runs 3 minutes with the
production settings (`make test-slow`).
"""

from __future__ import annotations

import threading
from decimal import Decimal

import dagster as dg
import psycopg
import pytest

from soleflip_bi.automation import sensors
from soleflip_bi.cleaned.facts import refresh_order_facts
from soleflip_bi.shared.catalogue import Source
from soleflip_bi.views.materialize import materialize_view
from soleflip_bi.views.registry import get_view, views_refreshed_on
from soleflip_bi_tests.support.figures import report
from soleflip_bi_tests.support.load import PURCHASE, SALE
from soleflip_bi_tests.support.load_harness import LoadOutcome, run_load
from soleflip_bi_tests.support.shop import stock_shop

ORDER_COUNTING_VIEWS = (
    "sales_summary_daily",
    "metabase_executive_metrics",
    "metabase_platform_performance",
)


@pytest.fixture
def shop(scratch_database_url: str, use_database) -> str:
    stock_shop(scratch_database_url)
    return use_database(scratch_database_url)  # the worker processes read it from the env


def _state(url: str) -> dict[str, object]:
    """What the views say, and what the sources say they should."""
    with psycopg.connect(url, autocommit=True) as conn:

        def one(query: str) -> object:
            return conn.execute(query).fetchone()[0]

        state: dict[str, object] = {
            f"orders:{name}": int(
                one(f"select coalesce(sum(total_orders), 0) from analytics.{name}")
            )
            for name in ORDER_COUNTING_VIEWS
        }
        state |= {
            f"revenue:{v.name}": Decimal(
                one(f"select coalesce(sum({v.revenue_column}), 0) from analytics.{v.name}")
            )
            for v in views_refreshed_on(Source.ORDERS)
            if v.revenue_column
        }
        state["stock_items:metabase_inventory_status"] = int(
            one("select count(*) from analytics.metabase_inventory_status")
        )
        state["last_log_id"] = int(one("select coalesce(max(id), 0) from soleflip_bi.refresh_log"))
    return state


def _refresh_log_since(url: str, after_id: int) -> tuple[int, int, int]:
    """(view refreshes, facts maintenances, overlapping intervals of one view) after an id."""
    with psycopg.connect(url, autocommit=True) as conn:
        views, facts = conn.execute(
            "select count(*) filter (where view_name <> 'order_facts'), "
            "count(*) filter (where view_name = 'order_facts') "
            "from soleflip_bi.refresh_log where id > %s",
            (after_id,),
        ).fetchone()
        overlaps = conn.execute(
            """
            select count(*) from soleflip_bi.refresh_log a
            join soleflip_bi.refresh_log b on a.view_name = b.view_name and a.id < b.id
             and tstzrange(a.started_at, a.finished_at) && tstzrange(b.started_at, b.finished_at)
            where a.id > %s
            """,
            (after_id,),
        ).fetchone()[0]
    return int(views), int(facts), int(overlaps)


def _retries(instance: dg.DagsterInstance, outcome: LoadOutcome) -> int:
    return sum(
        len(instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY))
        for run in outcome.runs
    )


def _pool_waits(instance: dg.DagsterInstance, outcome: LoadOutcome) -> list[float]:
    """Seconds each step blocked by the analytics_refresh pool waited for a slot."""
    waits = []
    for run in outcome.runs:
        blocked: dict[str, float] = {}
        for entry in instance.all_logs(run.run_id):
            if "blocked by limit for pool" in (entry.message or ""):
                blocked.setdefault(entry.step_key, entry.timestamp)
            elif (
                entry.dagster_event_type == dg.DagsterEventType.STEP_START
                and entry.step_key in blocked
            ):
                waits.append(entry.timestamp - blocked.pop(entry.step_key))
    return waits


def _verify(
    url: str, instance: dg.DagsterInstance, before: dict, outcome: LoadOutcome, capsys, name: str
) -> None:
    after = _state(url)
    committed = outcome.committed
    sold = committed[SALE]
    revenue = sum((sum(w.revenue.values(), Decimal(0)) for w in outcome.writers), Decimal(0))
    view_refreshes, facts_runs, overlaps = _refresh_log_since(url, int(before["last_log_id"]))

    missing = {
        view: before[f"orders:{view}"] + sold - after[f"orders:{view}"]
        for view in ORDER_COUNTING_VIEWS
    }
    assert outcome.write_errors == []
    assert sold > 0 and outcome.runs and all(run.success for run in outcome.runs)
    assert missing == dict.fromkeys(ORDER_COUNTING_VIEWS, 0)
    for key, value in after.items():
        if key.startswith("revenue:"):
            assert value == before[key] + revenue, key
    assert after["stock_items:metabase_inventory_status"] == (
        before["stock_items:metabase_inventory_status"] + sold + committed[PURCHASE]
    )
    assert overlaps == 0
    assert max(outcome.watcher.most_at_once_per_view.values(), default=0) <= 1
    assert outcome.most_waiting[sensors.SENSOR_NAME] <= 1
    assert outcome.requests_after_final_refresh == 0
    retries = _retries(instance, outcome)
    assert retries == 0  # no deadlock or serialization failure between concurrent runs
    writes = sum(committed.values())
    load_seconds = outcome.timings["load"]
    report(
        capsys,
        name,
        seconds=round(load_seconds, 1),
        writers=len(outcome.writers),
        writes_committed=writes,
        writes_per_second=round(writes / load_seconds, 1),
        write_errors=len(outcome.write_errors),
        orders_committed=sold,
        orders_missing_from_views=max(missing.values()),
        operations=dict(committed),
        runs=len(outcome.runs),
        run_seconds_max=round(max(r.finished - r.started for r in outcome.runs), 1),
        runs_requested=dict(outcome.requested),
        run_retries=retries,
        view_refreshes=view_refreshes,
        facts_maintenances=facts_runs,
        max_refreshes_of_one_view_at_once=max(
            outcome.watcher.most_at_once_per_view.values(), default=0
        ),
        max_refreshes_at_once=outcome.watcher.most_at_once,
        steps_blocked_by_pool=len(pool_waits := _pool_waits(instance, outcome)),
        longest_pool_wait_seconds=round(max(pool_waits, default=0.0), 1),
        watcher_samples=outcome.watcher.samples,
        max_waiting_runs_per_trigger=dict(outcome.most_waiting),
        overlapping_refresh_log_intervals=overlaps,
        sensor_ticks=outcome.sensor_ticks,
        final_requests=outcome.final_requests,
        phase_seconds={k: round(v, 1) for k, v in outcome.timings.items()},
    )


def test_sessions_refreshing_one_view_at_once_take_turns(shop: str, capsys) -> None:
    """Eight sessions refresh one view at the same moment while orders are repriced:
    each waits for the previous one and then reads what it committed, so none fails
    (no serialization failure, no deadlock) and their refresh_log intervals never overlap."""
    spec = get_view("metabase_executive_metrics")
    before = _state(shop)
    errors: list[str] = []
    stop = threading.Event()

    def reprice() -> None:
        with psycopg.connect(shop, autocommit=True) as conn:
            while not stop.is_set():
                conn.execute(
                    'update sales."order" set gross_sale = gross_sale + 1 where id = '
                    '(select id from sales."order" order by random() limit 1)'
                )

    def refresh() -> None:
        try:
            with psycopg.connect(shop) as conn:
                refresh_order_facts(conn)  # what a run's cleaned-layer step does first
                materialize_view(conn, spec)
        except psycopg.Error as error:
            errors.append(f"{type(error).__name__}: {error}")

    writer = threading.Thread(target=reprice)
    writer.start()
    started = 0
    try:
        for _round in range(3):
            sessions = [threading.Thread(target=refresh) for _ in range(8)]
            for session in sessions:
                session.start()
                started += 1
            for session in sessions:
                session.join()
    finally:
        stop.set()
        writer.join()
    refreshes, _facts, overlaps = _refresh_log_since(shop, int(before["last_log_id"]))
    assert errors == []
    assert overlaps == 0
    report(
        capsys,
        "one_view_many_sessions",
        sessions=started,
        failed=len(errors),
        view_refreshes_logged=refreshes,
        overlapping_intervals=overlaps,
    )


def test_load_ci_sized(shop: str, instance, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    # Under continuous writes a sensor fires every MAX_WAIT_SECONDS; 4 s instead of 30 s
    # gives a few sensor runs within 12 s.
    monkeypatch.setattr(sensors, "MAX_WAIT_SECONDS", 4.0)
    before = _state(shop)
    outcome = run_load(shop, instance, seconds=12, workers=2, schedule_every=5.0)
    _verify(shop, instance, before, outcome, capsys, "load_ci")


@pytest.mark.slow
def test_load_three_minutes(shop: str, instance, capsys) -> None:
    before = _state(shop)
    outcome = run_load(shop, instance, seconds=180, workers=3, schedule_every=45.0)
    _verify(shop, instance, before, outcome, capsys, "load_slow")
