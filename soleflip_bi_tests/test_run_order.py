"""One refresh run at a time, against a real instance: `views refresh` waits for a queued
run only while a daemon is alive to start it, and for a run in progress only while that
run keeps recording, so a crashed demo never leaves it waiting for ever."""

from __future__ import annotations

import threading
import time

import dagster as dg
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    LoadableTargetOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._daemon.types import DaemonHeartbeat

from soleflip_bi.database import run_order
from soleflip_bi.definitions import defs
from soleflip_bi.shared.tags import QUEUED_REFRESH_TAGS


def _run(instance: dg.DagsterInstance, status: dg.DagsterRunStatus) -> str:
    """A refresh run in ``status``, as the sensor and the daemon would have left it."""
    job = defs.resolve_job_def("refresh_on_source_change")
    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="soleflip_bi.definitions"), location_name="soleflip_bi"
    )
    origin = RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job.name)
    run = instance.create_run_for_job(
        job_def=job, status=status, tags=QUEUED_REFRESH_TAGS, remote_job_origin=origin
    )
    return run.run_id


def _waiter(instance: dg.DagsterInstance) -> tuple[threading.Thread, list[str]]:
    """wait_for_refresh_runs in a thread of its own; the runs it names."""
    named: list[str] = []
    waiter = threading.Thread(
        target=run_order.wait_for_refresh_runs, args=(instance, named.append), daemon=True
    )
    waiter.start()
    return waiter, named


def _returns_at_once(instance: dg.DagsterInstance) -> bool:
    waiter, named = _waiter(instance)
    waiter.join(3)
    return not waiter.is_alive() and named == []


def test_a_queued_run_is_waited_for_only_while_a_daemon_can_start_it(instance) -> None:
    queued = _run(instance, dg.DagsterRunStatus.QUEUED)
    assert _returns_at_once(instance)  # no daemon: nothing will ever start it

    instance.add_daemon_heartbeat(DaemonHeartbeat(time.time(), "QUEUED_RUN_COORDINATOR", "d"))
    waiter, named = _waiter(instance)
    waiter.join(1.5)
    assert waiter.is_alive() and named == [queued]
    instance.report_run_canceled(instance.get_run_by_id(queued))
    waiter.join(5)
    assert not waiter.is_alive()  # the run it waited for has ended


def test_a_run_in_progress_is_waited_for_until_it_stops_recording(instance, monkeypatch) -> None:
    started = _run(instance, dg.DagsterRunStatus.STARTED)
    waiter, named = _waiter(instance)
    waiter.join(1.5)
    assert waiter.is_alive() and named == [started]

    monkeypatch.setattr(run_order, "ABANDONED_AFTER_SECONDS", 0.5)
    waiter.join(5)  # nothing recorded since: its process is taken for dead
    assert not waiter.is_alive()
    assert _returns_at_once(instance)
