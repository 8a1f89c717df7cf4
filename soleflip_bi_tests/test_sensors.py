"""The source-changes sensor, evaluated against the real database and a real Dagster
instance: one run per burst, selecting the views of every table that changed."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import dagster as dg
import psycopg
import pytest
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    LoadableTargetOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from psycopg import sql

from soleflip_bi.cli.main import main
from soleflip_bi.definitions import defs
from soleflip_bi.shared.catalogue import Source
from soleflip_bi.shared.tags import SENSOR_TAG
from soleflip_bi.sources.demo import load_demo
from soleflip_bi.views.registry import VIEWS, CleanedView, views_refreshed_on
from soleflip_bi_tests.support.orders import insert_sale_orders
from soleflip_bi_tests.support.shop import build_all_views, stock_shop
from soleflip_bi_tests.support.ticker import Ticker

BURST = 500


@pytest.fixture
def shop(scratch_database_url: str) -> str:
    """Demo data and change capture, views not built (a new deployment catches up once)."""
    return stock_shop(scratch_database_url, orders=200, seed=11, views=False)


def _insert_order(conn: psycopg.Connection) -> str:
    [order_id] = insert_sale_orders(conn, 1, gross=120)
    return order_id


CLEANED = {"order_facts", "stock_facts", "source_quality_issues"}
ORDER_VIEWS = {v.name for v in views_refreshed_on(Source.ORDERS)}
STOCK_VIEWS = {v.name for v in views_refreshed_on(Source.INVENTORY)}
# every view whose amounts are euros at the rate of the sale's day
EURO_VIEWS = {v.name for v in VIEWS if CleanedView.ORDER_FACTS in v.reads}


def _queue_run(
    instance: dg.DagsterInstance,
    status: dg.DagsterRunStatus,
    selection: dg.RunRequest | None = None,
    retry_of: str | None = None,
) -> str:
    """A run of the sensor's job in ``status``, as the daemon would have created it for
    ``selection`` (a run request; the whole job without one), or as its run retries
    re-execute run ``retry_of`` from failure (its parent's tags and selection)."""
    job = defs.resolve_job_def("refresh_on_source_change")
    if selection is not None:
        job = job.get_subset(
            asset_selection=set(selection.asset_selection),
            asset_check_selection=set(selection.asset_check_keys),
        )
    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="soleflip_bi.definitions"), location_name="soleflip_bi"
    )
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job.name)
    run = instance.create_run_for_job(
        job_def=job,
        status=status,
        tags={SENSOR_TAG: "source_changes_sensor"},
        remote_job_origin=origin,
        asset_selection=frozenset(selection.asset_selection) if selection else None,
        parent_run_id=retry_of,
        root_run_id=retry_of,
    )
    return run.run_id


def _views(request: dg.RunRequest) -> set[str]:
    return {key.path[-1] for key in request.asset_selection} - CLEANED


def test_sensor_targets_the_views_the_registry_names() -> None:
    job = defs.resolve_job_def("refresh_on_source_change")
    selected = {key.path[-1] for key in job.asset_layer.selected_asset_keys}
    watched = {v.name for source in Source for v in views_refreshed_on(source)}
    assert selected - CLEANED == watched
    assert selected >= CLEANED  # the cleaned layer's step runs first in every run
    assert "metabase_executive_metrics" in selected
    # refreshed on schedule for orders and stock, and on a rate change like every view in euros
    assert {v.name for v in views_refreshed_on(Source.RATES)} == EURO_VIEWS
    assert "metabase_brand_analytics" in EURO_VIEWS - ORDER_VIEWS - STOCK_VIEWS


def test_a_new_sensor_begins_after_what_was_built(shop, instance) -> None:
    build_all_views(shop)
    ticker = Ticker(shop, instance)
    first = ticker.settle()
    assert first.run_requests == []
    assert ticker.cursor is not None  # it starts from the build's snapshot
    with psycopg.connect(shop) as conn:
        _insert_order(conn)
    assert len(ticker.settle().run_requests) == 1


def test_insert_update_delete_are_noticed_and_quiet_means_no_run(shop, instance) -> None:
    ticker = Ticker(shop, instance)
    assert len(ticker.settle().run_requests) == 1  # a new deployment catches up once
    assert not ticker.settle().run_requests  # nothing changed

    with psycopg.connect(shop) as conn:
        order_id = _insert_order(conn)
    insert_tick = ticker.settle()
    assert len(insert_tick.run_requests) == 1
    assert insert_tick.run_requests[0].tags[SENSOR_TAG] == "source_changes_sensor"
    [observation] = insert_tick.asset_events  # the source is observed, with its real types
    assert observation.asset_key == dg.AssetKey(["sales", "order"])
    assert observation.metadata["insert_statements"].value == 1
    assert observation.tags["dagster/data_version"] == ticker.cursor
    types = {c.name: c.type for c in observation.metadata["dagster/column_schema"].value.columns}
    assert types["gross_sale"] == "numeric(12,2)"
    assert types["sold_at"] == "timestamp with time zone"
    assert not ticker.settle().run_requests  # seen once, not twice

    with psycopg.connect(shop) as conn:
        conn.execute('update sales."order" set gross_sale = 130 where id = %s', (order_id,))
    assert len(ticker.settle().run_requests) == 1

    with psycopg.connect(shop) as conn:
        conn.execute('delete from sales."order" where id = %s', (order_id,))
    assert len(ticker.settle().run_requests) == 1
    assert not ticker.settle().run_requests


def test_a_change_committed_during_a_tick_is_not_lost(shop, instance) -> None:
    ticker = Ticker(shop, instance)
    ticker.settle()
    slow = psycopg.connect(shop)
    _insert_order(slow)  # open transaction: not committed yet
    with psycopg.connect(shop) as conn:
        _insert_order(conn)  # a later transaction commits first
    first = ticker.settle()
    assert len(first.run_requests) == 1
    slow.commit()  # the earlier transaction commits after the tick
    slow.close()
    second = ticker.settle()
    assert len(second.run_requests) == 1, "the late commit must lead to another refresh"


def test_a_burst_gives_one_run_and_nothing_is_queued_twice(shop, instance) -> None:
    ticker = Ticker(shop, instance)
    ticker.settle()  # a new deployment catches up once
    halfway, resume = threading.Event(), threading.Event()

    def burst() -> None:
        with psycopg.connect(shop, autocommit=True) as conn:
            for n in range(BURST):
                if n == BURST // 2:  # the writer pauses, for as long as the test takes
                    halfway.set()
                    resume.wait(60)
                _insert_order(conn)

    writer = threading.Thread(target=burst)
    writer.start()
    during: list[dg.SensorExecutionData] = []
    try:
        assert halfway.wait(60), "the first half of the burst was never written"
        # Judged right after its latest change, a burst is still arriving, however long
        # the writer paused: no run, and the cursor stays put so nothing is lost.
        paused = ticker.during_burst()
        assert paused.run_requests == []
        assert paused.skip_message.startswith(f"{BURST // 2} changes, still arriving")
        resume.set()
        while writer.is_alive():
            during.append(ticker.during_burst())
            time.sleep(0.05)  # the daemon's polling, not a wait for the burst to end
    finally:
        resume.set()
        writer.join()
    during.append(ticker.during_burst())  # the whole burst is in, the last change just now
    assert [tick.run_requests for tick in during if tick.run_requests] == []
    assert during[-1].skip_message.startswith(f"{BURST} changes, still arriving")

    settled = ticker.settle()
    [request] = settled.run_requests
    assert request.tags["soleflip/changes"] == str(BURST), "one refresh for the whole burst"
    [observation] = settled.asset_events
    assert observation.metadata["insert_statements"].value == BURST
    assert not ticker.settle().run_requests

    # The requested run is still queued: new changes ride along with it.
    run_id = _queue_run(instance, dg.DagsterRunStatus.QUEUED, request)
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.QUEUED
    with psycopg.connect(shop) as conn:
        _insert_order(conn)
    waiting = ticker.settle()
    assert not waiting.run_requests
    assert "still queued" in waiting.skip_message

    # Once it has started, a change it may not have read needs a run of its own.
    for record in instance.get_run_records():
        instance.delete_run(record.dagster_run.run_id)
    _queue_run(instance, dg.DagsterRunStatus.STARTED)
    with psycopg.connect(shop) as conn:
        _insert_order(conn)
    assert len(ticker.settle().run_requests) == 1


def _change_stock(conn: psycopg.Connection) -> None:
    conn.execute(
        "update inventory.stock set status = 'reserved' where ctid = "
        "(select ctid from inventory.stock limit 1)"
    )


def test_each_run_selects_the_views_of_the_tables_that_changed(shop, instance) -> None:
    ticker = Ticker(shop, instance)
    ticker.settle()
    with psycopg.connect(shop) as conn:
        _insert_order(conn)
    [orders] = ticker.settle().run_requests
    assert _views(orders) == ORDER_VIEWS
    assert {key.path[-1] for key in orders.asset_selection} >= CLEANED
    assert orders.tags["soleflip/sources"] == "orders"
    # every check of every selected asset runs with it, and no other
    graph = defs.get_repository_def().asset_graph
    assert set(orders.asset_check_keys) == {
        key for key in graph.asset_check_keys if key.asset_key in orders.asset_selection
    }
    assert len(orders.asset_check_keys) > 2 * len(ORDER_VIEWS)

    with psycopg.connect(shop) as conn:
        _change_stock(conn)
    [stock] = ticker.settle().run_requests
    assert _views(stock) == STOCK_VIEWS
    assert "metabase_executive_metrics" not in _views(stock)


def test_an_order_and_its_stock_item_in_one_commit_are_one_run(shop, instance) -> None:
    ticker = Ticker(shop, instance)
    ticker.settle()
    with psycopg.connect(shop) as conn:  # one transaction, both tables
        _insert_order(conn)
        _change_stock(conn)
    tick = ticker.settle()
    [request] = tick.run_requests
    assert _views(request) == ORDER_VIEWS | STOCK_VIEWS
    assert request.tags["soleflip/sources"] == "orders,inventory"
    assert sorted(e.asset_key.to_user_string() for e in tick.asset_events) == [
        "inventory/stock",
        "sales/order",
    ]
    assert not ticker.settle().run_requests


def test_a_queued_run_takes_only_the_changes_it_covers(shop, instance) -> None:
    ticker = Ticker(shop, instance)
    ticker.settle()
    with psycopg.connect(shop) as conn:
        _insert_order(conn)
    [orders] = ticker.settle().run_requests
    _queue_run(instance, dg.DagsterRunStatus.QUEUED, orders)

    with psycopg.connect(shop) as conn:
        _insert_order(conn)
    assert "still queued" in ticker.settle().skip_message  # the queued run reads it

    with psycopg.connect(shop) as conn:
        _change_stock(conn)  # the queued run does not refresh the stock views
    [stock] = ticker.settle().run_requests
    assert _views(stock) == STOCK_VIEWS


def test_a_queued_retry_does_not_take_new_changes(shop, instance) -> None:
    """A dead run's retry re-executes it from failure: if the cleaned step had finished,
    only the views run again, so an order committed meanwhile needs a run of its own."""
    ticker = Ticker(shop, instance)
    ticker.settle()
    with psycopg.connect(shop) as conn:
        _insert_order(conn)
    [orders] = ticker.settle().run_requests
    failed = _queue_run(instance, dg.DagsterRunStatus.FAILURE, orders)
    _queue_run(instance, dg.DagsterRunStatus.QUEUED, orders, retry_of=failed)
    with psycopg.connect(shop) as conn:
        _insert_order(conn)
    [again] = ticker.settle().run_requests
    assert _views(again) == ORDER_VIEWS


def test_missing_change_capture_is_a_clear_skip(scratch_database_url, instance) -> None:
    with psycopg.connect(scratch_database_url) as conn:
        load_demo(conn, orders=10, seed=1)
    data = Ticker(scratch_database_url, instance).tick()
    assert "soleflip-bi db install-change-capture" in data.skip_message


def _log_rows(conn: psycopg.Connection, xids: list[str]) -> dict[tuple[str, str, str], int]:
    """Committed change-log rows of the given transactions: (xid, source, operation) -> rows."""
    rows = conn.execute(
        "select xid::text, source, operation, count(*) from soleflip_bi.source_change "
        "where xid::text = any(%s) group by 1, 2, 3",
        (xids,),
    ).fetchall()
    return {(xid, source, operation): count for xid, source, operation, count in rows}


def _xid(conn: psycopg.Connection) -> str:
    return conn.execute("select pg_current_xact_id()::text").fetchone()[0]


def test_writers_are_not_serialized_by_change_capture(shop) -> None:
    """Two writers in open transactions never wait for each other because of the log: the
    second commits while the first still holds its uncommitted log row, and each
    statement of each writer has exactly one row of its own (no shared, hot row)."""
    first = psycopg.connect(shop)
    try:
        _insert_order(first)  # holds its transaction, and its log row, open
        first_xid = _xid(first)
        with psycopg.connect(shop) as second:
            second.execute("set lock_timeout = '100ms'")  # any wait for the first: an error
            _insert_order(second)
            second.execute(
                "update inventory.stock set quantity = quantity where ctid = "
                "(select ctid from inventory.stock limit 1)"
            )
            second_xid = _xid(second)
            second.commit()
        with psycopg.connect(shop, autocommit=True) as observer:
            still_open = observer.execute(
                "select state, backend_xid = %s::xid8::xid from pg_stat_activity where pid = %s",
                (first_xid, first.info.backend_pid),
            ).fetchone()
            while_first_open = _log_rows(observer, [first_xid, second_xid])
        first.commit()
    finally:
        first.close()
    with psycopg.connect(shop, autocommit=True) as observer:
        after_both = _log_rows(observer, [first_xid, second_xid])

    assert still_open == ("idle in transaction", True)  # the second committed meanwhile
    assert while_first_open == {
        (second_xid, "orders", "INSERT"): 1,
        (second_xid, "inventory", "UPDATE"): 1,
    }
    assert after_both == {**while_first_open, (first_xid, "orders", "INSERT"): 1}


def _revenue_totals(conn: psycopg.Connection) -> dict[str, Decimal]:
    return {
        spec.name: conn.execute(
            sql.SQL("select coalesce(sum({}), 0) from {}").format(
                sql.Identifier(spec.revenue_column), sql.Identifier("analytics", spec.name)
            )
        ).fetchone()[0]
        for spec in VIEWS
        if spec.revenue_column
    }


def test_a_rate_load_reaches_every_view_in_euros_in_one_run(
    shop, instance, tmp_path, use_database
) -> None:
    """`rates load` corrects a day's USD rate: the sensor requests one run with every view
    in euros (the daily and weekly ones too), and after it every revenue total agrees."""
    build_all_views(shop)
    use_database(shop)
    ticker = Ticker(shop, instance)
    ticker.settle()
    with psycopg.connect(shop) as conn:
        day, rate = conn.execute(
            "select rate_date, exchange_rate from analytics.order_facts "
            "where currency_code = 'USD' group by 1, 2 order by count(*) desc limit 1"
        ).fetchone()
        before = _revenue_totals(conn)
    assert len(set(before.values())) == 1
    path = tmp_path / "corrected.csv"
    path.write_text(f"Date,USD\n{day},{rate * 2}\n")
    assert main(["rates", "load", str(path)]) == 0

    tick = ticker.settle()
    [request] = tick.run_requests
    assert _views(request) == EURO_VIEWS
    assert request.tags["soleflip/sources"] == "rates"
    assert tick.asset_events == []  # the rates are not a source Dagster observes
    result = dg.materialize(
        defs.assets or [],
        selection=dg.AssetSelection.assets(*request.asset_selection),
        instance=instance,
        resources=defs.resources,
    )
    assert result.success

    with psycopg.connect(shop) as conn:
        after = _revenue_totals(conn)
    assert set(after) == set(before)
    assert len(set(after.values())) == 1, after  # every view agrees
    assert next(iter(after.values())) < next(iter(before.values()))  # twice the USD per euro
    assert not ticker.settle().run_requests
