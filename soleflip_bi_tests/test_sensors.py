"""The change sensors, evaluated against the real database and a real Dagster instance."""

from __future__ import annotations

import threading
import time
import uuid

import dagster as dg
import psycopg
import pytest
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    LoadableTargetOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)

from soleflip_bi.automation.sensors import QUIET_SECONDS, SENSOR_TAG, build_change_sensor
from soleflip_bi.capture.install import install_change_capture, record_reload
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.definitions import defs
from soleflip_bi.shared.catalogue import Source
from soleflip_bi.sources.demo import load_demo
from soleflip_bi.views.registry import views_refreshed_on
from soleflip_bi_tests.views_support import build_all_views


@pytest.fixture
def shop(scratch_database_url: str) -> str:
    with psycopg.connect(scratch_database_url) as conn:
        load_demo(conn, orders=200, seed=11)
        install_change_capture(conn)
        record_reload(conn)
    return scratch_database_url


@pytest.fixture
def instance(dagster_home) -> dg.DagsterInstance:
    with dg.DagsterInstance.get() as instance:
        yield instance


class Ticker:
    """Evaluates one sensor tick after another, carrying the cursor like the daemon does."""

    def __init__(self, source: Source, url: str, instance: dg.DagsterInstance) -> None:
        self.sensor = build_change_sensor(source)
        self.url = url
        self.instance = instance
        self.cursor: str | None = None

    def tick(self) -> dg.SensorExecutionData:
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={"postgres": PostgresResource(database_url=self.url)},
            repository_def=defs.get_repository_def(),
        )
        data = self.sensor.evaluate_tick(context)
        if data.cursor is not None:
            self.cursor = data.cursor
        return data

    def settle(self) -> dg.SensorExecutionData:
        """Tick once the source has been quiet long enough for a burst to count as over."""
        time.sleep(QUIET_SECONDS + 0.3)
        return self.tick()


def _insert_order(conn: psycopg.Connection) -> str:
    order_id = str(uuid.uuid4())
    conn.execute(
        'insert into sales."order" (id, status, currency_code, gross_sale, sold_at) '
        "values (%s, 'completed', 'EUR', 120, now())",
        (order_id,),
    )
    return order_id


def _queue_run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus) -> str:
    """A run of the orders sensor's job in ``status``, as the daemon would have created it."""
    job = defs.resolve_job_def("refresh_on_orders_change")
    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="soleflip_bi.definitions"), location_name="soleflip_bi"
    )
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job.name)
    run = instance.create_run_for_job(
        job_def=job,
        status=status,
        tags={SENSOR_TAG: "orders_changed_sensor"},
        remote_job_origin=origin,
    )
    return run.run_id


def test_sensor_targets_the_views_the_registry_names() -> None:
    job = defs.resolve_job_def("refresh_on_orders_change")
    selected = {key.path[-1] for key in job.asset_layer.selected_asset_keys}
    cleaned = {"order_facts", "stock_facts", "source_quality_issues"}
    assert selected - cleaned == {v.name for v in views_refreshed_on(Source.ORDERS)}
    assert cleaned <= selected  # the cleaned layer's step runs first in every run
    assert "metabase_executive_metrics" in selected


def test_a_new_sensor_begins_after_what_was_built(shop, instance) -> None:
    build_all_views(shop)
    ticker = Ticker(Source.ORDERS, shop, instance)
    first = ticker.settle()
    assert first.run_requests == []
    assert ticker.cursor is not None  # it starts from the build's snapshot
    with psycopg.connect(shop) as conn:
        _insert_order(conn)
    assert len(ticker.settle().run_requests) == 1


def test_insert_update_delete_are_noticed_and_quiet_means_no_run(shop, instance) -> None:
    ticker = Ticker(Source.ORDERS, shop, instance)
    assert len(ticker.settle().run_requests) == 1  # a new deployment catches up once
    assert not ticker.settle().run_requests  # nothing changed

    with psycopg.connect(shop) as conn:
        order_id = _insert_order(conn)
    insert_tick = ticker.settle()
    assert len(insert_tick.run_requests) == 1
    assert insert_tick.run_requests[0].tags[SENSOR_TAG] == "orders_changed_sensor"
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
    ticker = Ticker(Source.ORDERS, shop, instance)
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
    ticker = Ticker(Source.ORDERS, shop, instance)
    ticker.settle()

    def burst() -> None:
        with psycopg.connect(shop, autocommit=True) as conn:
            for _ in range(500):
                _insert_order(conn)
                time.sleep(0.004)

    writer = threading.Thread(target=burst)
    writer.start()
    requests = []
    while writer.is_alive():
        requests += ticker.tick().run_requests
        time.sleep(0.5)
    writer.join()
    requests += ticker.settle().run_requests
    assert len(requests) == 1, "one refresh per burst"

    # The requested run is still queued: new changes ride along with it.
    run_id = _queue_run(instance, dg.DagsterRunStatus.QUEUED)
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


def test_inventory_sensor_ignores_orders(shop, instance) -> None:
    ticker = Ticker(Source.INVENTORY, shop, instance)
    ticker.settle()
    with psycopg.connect(shop) as conn:
        _insert_order(conn)
    assert not ticker.settle().run_requests
    with psycopg.connect(shop) as conn:
        conn.execute(
            "update inventory.stock set status = 'reserved' where ctid = "
            "(select ctid from inventory.stock limit 1)"
        )
    assert len(ticker.settle().run_requests) == 1


def test_missing_change_capture_is_a_clear_skip(scratch_database_url, instance) -> None:
    with psycopg.connect(scratch_database_url) as conn:
        load_demo(conn, orders=10, seed=1)
    data = Ticker(Source.ORDERS, scratch_database_url, instance).tick()
    assert "soleflip-bi db install-change-capture" in data.skip_message


def test_writers_are_not_serialized_by_change_capture(shop) -> None:
    """Two writers in open transactions never wait for each other because of the log."""
    first = psycopg.connect(shop)
    _insert_order(first)  # holds its transaction open
    with psycopg.connect(shop) as second:
        second.execute("set lock_timeout = '1s'")
        _insert_order(second)
        second.execute(
            "update inventory.stock set quantity = quantity where ctid = "
            "(select ctid from inventory.stock limit 1)"
        )
        second.commit()  # would raise LockNotAvailable if the log had a hot row
    first.commit()
    first.close()
    with psycopg.connect(shop) as conn:
        kinds = conn.execute(
            "select count(*) from soleflip_bi.source_change where source = 'orders'"
        ).fetchone()[0]
    assert kinds >= 2
