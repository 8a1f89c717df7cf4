"""One refresh run at a time, against a real instance and a real PostgreSQL: a run is alive
while a session holds its liveness lock, a dead one is failed through Dagster with a
message, a refresh step waits for the runs created before it, and `views refresh` gives
up with one sentence instead of waiting for what nothing will start."""

from __future__ import annotations

import threading
import time

import dagster as dg
import psycopg
import pytest
from dagster._core.execution.api import create_execution_plan
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    LoadableTargetOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._daemon.types import DaemonHeartbeat

from soleflip_bi.cleaned.assets import cleaned_layer
from soleflip_bi.database import run_order
from soleflip_bi.database.errors import RefreshWaitError
from soleflip_bi.database.liveness import hold_liveness
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.definitions import defs


def _run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus) -> str:
    """A run of the sensor's job in ``status``, as the sensor and the daemon create it: no
    tag of ours makes it a refresh run, its steps in the refresh pool do."""
    job = defs.resolve_job_def("refresh_on_source_change")
    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="soleflip_bi.definitions"), location_name="soleflip_bi"
    )
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job.name)
    run = instance.create_run_for_job(
        job_def=job,
        status=status,
        remote_job_origin=origin,
        execution_plan=create_execution_plan(job),
    )
    assert run_order.is_refresh_run(run)
    return run.run_id


def _waiter(instance: dg.DagsterInstance, url: str) -> tuple[threading.Thread, list, list]:
    """wait_for_refresh_runs in a thread of its own; the runs it names, what it raised."""
    named: list[str] = []
    raised: list[BaseException] = []

    def wait() -> None:
        try:
            run_order.wait_for_refresh_runs(instance, url, named.append)
        except RefreshWaitError as error:
            raised.append(error)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    return waiter, named, raised


def _failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    [failure] = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return failure.dagster_event.message or ""


@pytest.fixture
def url(demo_database_url: str, use_database) -> str:
    use_database(demo_database_url)
    return demo_database_url


def test_a_live_run_is_waited_for_and_a_dead_one_is_failed(instance, url, monkeypatch) -> None:
    started = _run(instance, dg.DagsterRunStatus.STARTED)
    monkeypatch.setattr(run_order, "DEAD_AFTER_SECONDS", 1.0)
    monkeypatch.setattr(run_order, "SWEEP_SECONDS", 0.5)
    process = hold_liveness(url, started)  # the run's process, recording nothing
    waiter, named, raised = _waiter(instance, url)
    waiter.join(4)  # far longer than DEAD_AFTER_SECONDS: the lock alone keeps it alive
    assert waiter.is_alive() and [n.split()[0] for n in named] == [started]
    assert instance.get_run_by_id(started).status is dg.DagsterRunStatus.STARTED

    process.close()  # its process dies: PostgreSQL drops the lock with the session
    waiter.join(10)
    assert not waiter.is_alive() and raised == []
    assert instance.get_run_by_id(started).status is dg.DagsterRunStatus.FAILURE
    assert "The run's process is gone" in _failure_message(instance, started)


def test_a_queued_run_without_a_daemon_is_refused_in_one_sentence(instance, url) -> None:
    queued = _run(instance, dg.DagsterRunStatus.QUEUED)
    waiter, _named, raised = _waiter(instance, url)
    waiter.join(5)
    assert not waiter.is_alive()
    [error] = raised
    assert str(error).startswith(f"refresh run {queued} (refresh_on_source_change, queued)")
    assert "no dagster-daemon is running" in str(error) and "\n" not in str(error)

    # With a daemon alive, it is waited for until it ends.
    instance.add_daemon_heartbeat(DaemonHeartbeat(time.time(), "QUEUED_RUN_COORDINATOR", "d"))
    waiter, named, raised = _waiter(instance, url)
    waiter.join(1.5)
    assert waiter.is_alive() and len(named) == 1
    instance.report_run_canceled(instance.get_run_by_id(queued))
    waiter.join(5)
    assert not waiter.is_alive() and raised == []


def test_the_wait_for_a_live_run_is_bounded(instance, url, monkeypatch) -> None:
    started = _run(instance, dg.DagsterRunStatus.STARTED)
    process = hold_liveness(url, started)
    monkeypatch.setattr(run_order, "WAIT_LIMIT_SECONDS", 1.0)
    try:
        with pytest.raises(RefreshWaitError, match=f"gave up after . s .* {started}"):
            run_order.wait_for_refresh_runs(instance, url, limit_seconds=1.0)
    finally:
        process.close()
    assert instance.get_run_by_id(started).status is dg.DagsterRunStatus.STARTED


def test_a_refresh_step_waits_for_the_runs_created_before_its_own(instance, url) -> None:
    earlier = _run(instance, dg.DagsterRunStatus.STARTED)
    process = hold_liveness(url, earlier)
    results: list[dg.ExecuteInProcessResult] = []
    later = threading.Thread(
        target=lambda: results.append(
            dg.materialize(
                [cleaned_layer], instance=instance, resources={"postgres": PostgresResource()}
            )
        ),
        daemon=True,
    )
    later.start()
    deadline = time.monotonic() + 60
    waiting = []
    while not waiting and time.monotonic() < deadline:
        runs = [
            r
            for r in instance.get_runs()
            if r.run_id != earlier and r.status is dg.DagsterRunStatus.STARTED
        ]
        waiting = [
            e
            for r in runs
            for e in instance.all_logs(r.run_id)
            if f"waiting for refresh run {earlier}" in (e.user_message or "")
        ]
        time.sleep(0.2)
    assert waiting, "the later run never said it waits for the earlier one"
    time.sleep(2)
    assert later.is_alive()  # still waiting: the earlier run is alive
    instance.report_run_canceled(instance.get_run_by_id(earlier))  # the earlier run ends
    process.close()
    later.join(120)
    assert not later.is_alive() and results and results[0].success
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from analytics.order_facts").fetchone()[0] > 0
