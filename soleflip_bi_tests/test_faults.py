"""Faults during a refresh: a database restart, a killed backend, a lock held by a reader.

Every scenario runs the view's real Dagster asset against a real instance and a real
PostgreSQL, lands the fault while the refresh is working (the refresh is slowed with a
sleep, its rows unchanged) and checks what a user would see: the view keeps its previous
contents, the run retries and succeeds, nothing is lost or counted twice.

A daemon restart between sensor ticks is covered by test_end_to_end.py (the cursor lives
in Dagster's storage).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import dagster as dg
import psycopg
import pytest

from soleflip_bi.capture.install import record_reload
from soleflip_bi.cleaned.facts import FACTS_NAME
from soleflip_bi.database import steps
from soleflip_bi.database.embedded import EmbeddedServer, wait_until_accepting
from soleflip_bi.shared.catalogue import Source
from soleflip_bi.views.materialize import SWAP_LOCK_TIMEOUT, materialize_view
from soleflip_bi.views.registry import ViewSpec, get_view, views_refreshed_on
from soleflip_bi_tests.support.databases import own_cluster
from soleflip_bi_tests.support.faults import (
    ViewReader,
    busy_backend_pid,
    leftover_build_relations,
    materialize_views,
    redefined,
    refresh_log_rows,
    retry_messages,
    sleeping_refresh_pid,
    slowed,
    view_totals,
)
from soleflip_bi_tests.support.figures import report
from soleflip_bi_tests.support.orders import add_sale_orders, insert_sale_orders
from soleflip_bi_tests.support.shop import stock_shop
from soleflip_bi_tests.support.ticker import Ticker

VIEW = "sales_summary_daily"
SLEEP_SECONDS = 2
LARGE_ORDERS = 200_000


def _prepare_shop(url: str) -> str:
    return stock_shop(url, orders=400, seed=7)


@pytest.fixture
def shop(scratch_database_url: str) -> str:
    return _prepare_shop(scratch_database_url)


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Back-off starts at 1 s instead of 5 s (then doubles as in production): same path,
    shorter test."""
    monkeypatch.setattr(steps, "FIRST_RETRY_DELAY_SECONDS", 1)


@pytest.fixture
def own_server() -> Iterator[EmbeddedServer]:
    with own_cluster() as server:
        yield server


@pytest.fixture(scope="module")
def large_shop() -> Iterator[EmbeddedServer]:
    """200,000 orders on a cluster of its own: refreshes take real time, no sleep needed."""
    with own_cluster() as server:
        stock_shop(server.url(), orders=LARGE_ORDERS, seed=99)
        yield server


def _install(url: str, spec: ViewSpec) -> None:
    with psycopg.connect(url) as conn:
        materialize_view(conn, spec)


def _sale_orders(url: str) -> int:
    """Orders the cleaned layer counts as sales, straight from the source tables."""
    with psycopg.connect(url, autocommit=True) as conn:
        return int(
            conn.execute(
                'select count(*) from sales."order" o join analytics.order_status s '
                "on s.status = lower(btrim(o.status)) and s.is_sale "
                "left join analytics.source_quality_issues q "
                "on q.row_id = o.id and q.severity = 'error' "
                "where q.row_id is null"
            ).fetchone()[0]
        )


def _facts_of(url: str, order_ids: list[str]) -> int:
    """How many of these orders the stored facts (what every order view reads) hold."""
    with psycopg.connect(url, autocommit=True) as conn:
        return int(
            conn.execute(
                "select count(*) from analytics.order_facts where order_id = any(%s::uuid[])",
                (order_ids,),
            ).fetchone()[0]
        )


def _orders_in_views(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            name: int(
                conn.execute(
                    f"select coalesce(sum(total_orders), 0) from analytics.{name}"
                ).fetchone()[0]
            )
            for name in ("sales_summary_daily", "metabase_executive_metrics")
        }


@pytest.mark.parametrize("mode", ["concurrent", "rebuild"])
def test_a_killed_refresh_is_retried_and_the_view_never_goes_away(
    shop: str, instance: dg.DagsterInstance, mode: str, capsys
) -> None:
    spec = get_view(VIEW)
    slow = slowed(spec, SLEEP_SECONDS)
    if mode == "concurrent":
        _install(shop, slow)  # the slow definition in place: the next refresh is CONCURRENT
    before = view_totals(shop, spec)
    logged = refresh_log_rows(shop, VIEW)
    add_sale_orders(shop, 3, gross=100)
    killed_at: list[float] = []

    def kill_the_refresh() -> None:
        pid = sleeping_refresh_pid(shop, VIEW)
        with psycopg.connect(shop, autocommit=True) as conn:
            conn.execute("select pg_terminate_backend(%s)", (pid,))
        killed_at.append(time.monotonic())

    killer = threading.Thread(target=kill_the_refresh)
    killer.start()
    with ViewReader(shop, spec) as reader:
        result = materialize_views([slow], shop, instance)
    killer.join()
    after = view_totals(shop, spec)

    assert result.success
    assert len(killed_at) == 1
    retries = retry_messages(instance, result.run_id)
    assert len(retries) == 1 and "terminat" in retries[0].lower()
    [materialization] = result.asset_materializations_for_node(f"refresh_{VIEW}")
    assert materialization.metadata["refresh_mode"].value == mode
    # Readers never failed and saw the old contents until the retry committed the new.
    assert reader.errors == []
    assert reader.seen()[0] == before
    assert before in reader.seen(since=killed_at[0])
    assert set(reader.seen()) <= {before, after}
    assert after[1] == before[1] + 300
    assert refresh_log_rows(shop, VIEW) == logged + 1  # the killed attempt left no trace
    assert leftover_build_relations(shop) == []
    report(
        capsys,
        f"fault_killed_backend_{mode}",
        faults=len(killed_at),
        retries=len(retries),
        run_success=result.success,
        reader_errors=len(reader.errors),
        reads=len(reader.reads),
        revenue_added=str(after[1] - before[1]),
    )


@pytest.mark.parametrize("blocker", ["long_reader_blocks_swap", "foreign_refresh_blocks_refresh"])
def test_a_refresh_behind_a_lock_gives_up_in_time_and_retries(
    shop: str, instance: dg.DagsterInstance, blocker: str, capsys
) -> None:
    """lock_timeout makes a refresh give up (LockNotAvailable) instead of queueing forever;
    the asset treats that as transient, so a retry succeeds once the lock is gone.

    * A Metabase query in a long transaction holds ACCESS SHARE; only the swap of a
      redefined view needs ACCESS EXCLUSIVE (REFRESH CONCURRENTLY does not conflict).
      The swap waits at most SWAP_LOCK_TIMEOUT, and so do readers queued behind it.
    * A refresh from outside the project (a DBA by hand, a pg_cron job not yet removed)
      holds EXCLUSIVE in an open transaction; REFRESH CONCURRENTLY needs it too, and the
      resource's lock_timeout (500 ms here) applies. (LOCK TABLE is refused on
      materialized views, and readers cannot take row locks on them.)
    """
    spec = get_view(VIEW)
    if blocker == "long_reader_blocks_swap":
        target = redefined(spec, "/* redefined by the fault test */ " + spec.sql)
        hold_seconds, statement = 5.0, f"select count(*) from analytics.{VIEW}"
    else:
        target = spec
        hold_seconds = 2.0
        statement = f"refresh materialized view concurrently analytics.{VIEW}"
    add_sale_orders(shop, 2, gross=50)
    before = view_totals(shop, spec)
    logged = refresh_log_rows(shop, VIEW)
    facts_logged = refresh_log_rows(shop, FACTS_NAME)
    holding = threading.Event()
    held: list[float] = []  # seconds the lock was really held

    def hold_the_lock() -> None:
        with psycopg.connect(shop) as conn:
            conn.execute(statement)
            taken = time.monotonic()
            holding.set()
            # the run's first step maintains the facts; the view's step comes after it
            deadline = time.monotonic() + 30
            while refresh_log_rows(shop, FACTS_NAME) == facts_logged:
                assert time.monotonic() < deadline, "the facts step never finished"
                time.sleep(0.05)
            time.sleep(hold_seconds)
            conn.commit()
            held.append(time.monotonic() - taken)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    holding.wait(10)
    started = time.monotonic()
    with ViewReader(shop, spec) as reader:
        result = materialize_views([target], shop, instance, lock_timeout_ms=500)
    elapsed = time.monotonic() - started
    holder.join()
    after = view_totals(shop, spec)

    assert result.success
    retries = retry_messages(instance, result.run_id)
    assert retries and all("LockNotAvailable" in message for message in retries)
    assert reader.errors == []
    assert set(reader.seen()) <= {before, after}
    assert after[1] == before[1] + 100
    assert refresh_log_rows(shop, VIEW) == logged + 1
    assert leftover_build_relations(shop) == []
    if blocker == "long_reader_blocks_swap":
        # Dashboards queued behind the waiting swap stall at most its lock timeout.
        assert reader.slowest_read < float(SWAP_LOCK_TIMEOUT.removesuffix("s")) + 1.0
    report(
        capsys,
        f"fault_lock_{blocker}",
        lock_held_seconds=round(held[0], 1),
        retries=len(retries),
        run_seconds=round(elapsed, 1),
        run_success=result.success,
        reader_errors=len(reader.errors),
        slowest_dashboard_read_seconds=round(reader.slowest_read, 2),
    )


def test_a_database_restart_during_a_refresh_loses_nothing(
    own_server: EmbeddedServer, instance: dg.DagsterInstance, capsys
) -> None:
    url = _prepare_shop(own_server.url())
    spec = get_view(VIEW)
    slow = slowed(spec, SLEEP_SECONDS + 1)
    orders_views = [slow if v.name == VIEW else v for v in views_refreshed_on(Source.ORDERS)]
    ticker = Ticker(url, instance)
    assert ticker.settle().run_requests == []  # a new sensor begins after the build
    base_orders = _sale_orders(url)

    committed_ids = add_sale_orders(url, 3)
    [request] = ticker.settle().run_requests
    before = view_totals(url, spec)
    read_after_restart: list[tuple[int, object]] = []
    uncommitted_ids: list[str] = []
    restarts: list[float] = []  # when each restart was done

    def restart_during_the_refresh() -> None:
        sleeping_refresh_pid(url, VIEW)
        committed_ids.extend(add_sale_orders(url, 2))  # committed before the restart
        in_flight = psycopg.connect(url)  # never committed: must never show up
        uncommitted_ids.extend(insert_sale_orders(in_flight, 1, gross=1))
        own_server.stop()
        own_server.ensure_running()
        restarts.append(time.monotonic())
        wait_until_accepting(url)
        read_after_restart.append(view_totals(url, spec))
        in_flight.close()

    fault = threading.Thread(target=restart_during_the_refresh)
    fault.start()
    result = materialize_views(orders_views, url, instance, tags=request.tags)
    fault.join()

    assert result.success
    retries = retry_messages(instance, result.run_id)
    assert retries, "the refresh cut off by the restart must be retried"
    assert read_after_restart == [before]  # the previous contents, intact and readable
    # The retry reads the facts as the run's first step stored them, before the late orders.
    assert _orders_in_views(url)[VIEW] == base_orders + 3

    # The sensor resumes from its cursor: the late orders count once, the lost one never.
    follow_up = ticker.settle().run_requests
    assert len(follow_up) == 1
    assert materialize_views(views_refreshed_on(Source.ORDERS), url, instance).success
    assert _orders_in_views(url)[VIEW] == base_orders + 5
    assert not ticker.settle().run_requests

    # A restart between two ticks: the failed tick keeps its cursor, nothing is skipped.
    committed_ids.extend(add_sale_orders(url, 1))
    own_server.stop()
    cursor = ticker.cursor
    with pytest.raises(psycopg.OperationalError):
        ticker.tick()
    assert ticker.cursor == cursor
    own_server.ensure_running()
    restarts.append(time.monotonic())
    assert len(ticker.settle().run_requests) == 1
    assert not ticker.settle().run_requests
    assert materialize_views(views_refreshed_on(Source.ORDERS), url, instance).success

    committed = _sale_orders(url)
    in_views = _orders_in_views(url)
    uncommitted_in_facts = _facts_of(url, uncommitted_ids)
    assert len(committed_ids) == 6 and len(uncommitted_ids) == 1
    assert committed == base_orders + len(committed_ids)
    assert in_views == {VIEW: committed, "metabase_executive_metrics": committed}
    assert _facts_of(url, committed_ids) == len(committed_ids)
    assert uncommitted_in_facts == 0
    report(
        capsys,
        "fault_database_restart",
        restarts=len(restarts),
        retries=len(retries),
        run_success=result.success,
        orders_committed=len(committed_ids),
        orders_in_views=in_views[VIEW] - base_orders,
        uncommitted_orders_in_views=uncommitted_in_facts,
        sensor_run_requests_after_restart=len(follow_up),
    )


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["terminate", "restart"])
def test_a_fault_during_a_full_facts_rebuild_of_a_large_shop(
    large_shop: EmbeddedServer, instance: dg.DagsterInstance, fault: str, capsys
) -> None:
    """The stored order facts of 200,000 orders are rebuilt in full (a bulk load was
    recorded) when the backend is killed or the server restarts mid-INSERT: the facts
    roll back intact, the views keep their contents, the retry rebuilds and refreshes."""
    url = large_shop.url()
    spec = get_view("metabase_executive_metrics")
    before = view_totals(url, spec)
    add_sale_orders(url, 10, gross=100)
    with psycopg.connect(url) as conn:
        record_reload(conn)  # a bulk load: the next refresh rebuilds the facts in full
    hit: list[float] = []

    def inject() -> None:
        pid = busy_backend_pid(url, 'insert into "analytics"."order_facts" select * from%')
        hit.append(time.monotonic())
        if fault == "terminate":
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("select pg_terminate_backend(%s)", (pid,))
        else:
            large_shop.stop()
            large_shop.ensure_running()

    injector = threading.Thread(target=inject)
    injector.start()
    started = time.monotonic()
    result = materialize_views([spec], url, instance)
    seconds = time.monotonic() - started
    injector.join()

    assert result.success and hit
    retries = retry_messages(instance, result.run_id)
    assert retries
    after = view_totals(url, spec)
    assert after[1] == before[1] + 1000
    with psycopg.connect(url) as conn:
        orders, stored, live = conn.execute(
            'select (select count(*) from sales."order"), '
            "(select count(*) from analytics.order_facts), "
            "(select count(*) from analytics.order_facts_live)"
        ).fetchone()
    assert stored == live
    report(
        capsys,
        f"fault_large_shop_{fault}",
        orders=orders,
        stored_facts=stored,
        retries=len(retries),
        run_seconds=round(seconds, 1),
        run_success=result.success,
    )
