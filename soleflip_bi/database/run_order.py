"""One refresh run at a time, in the order the runs were created, whoever created them.

Dagster records a run's asset checks as planned when it creates the run, and shows the
check planned last as an asset's latest. So every refresh run must not only run alone (its
cleaned layer and views would interleave with another's) but also in the order the runs
were created; otherwise the UI shows checks as belonging to an older materialization.

* The run queue starts one queued refresh run at a time, oldest first (``dagster.yaml``).
* ``views refresh`` executes its run in its own process, outside the queue: before
  creating it, it waits until no refresh run is queued or in progress.
* The first step of every refresh run (the cleaned layer's) waits until every refresh
  run created before its own has ended. This closes what the two above leave open: a run
  the sensor created a moment before the command line created its own. That step takes
  no pool slot while it waits, so a waiting run never keeps the run it waits for from
  getting one.

A queued run is waited for only while a daemon is alive to start it, and a run in
progress only while it keeps recording events, so a crashed demo never leaves
`views refresh` waiting for ever.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import dagster as dg

from soleflip_bi.shared.tags import REFRESH_RUN_TAG, REFRESH_RUN_TAGS

QUEUED_STATUSES = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED]
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
POLL_SECONDS = 0.25
# A daemon heartbeats every 30 s; without a live one, nothing will ever start a queued run.
DAEMON_ALIVE_SECONDS = 60.0
# A run that recorded nothing for this long is taken for abandoned (its process died with
# no daemon to mark it failed): longer than the statement timeout of a refresh (15 min).
ABANDONED_AFTER_SECONDS = 20 * 60.0


def _unfinished_refresh_runs(instance: dg.DagsterInstance) -> list[dg.RunRecord]:
    """The refresh runs that will still run: queued ones while a daemon is alive to start
    them, and the others (about to start, or running) while they record something."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=QUEUED_STATUSES + ACTIVE_STATUSES, tags=REFRESH_RUN_TAGS)
    )
    now = time.time()
    heartbeats = [h.timestamp for h in instance.get_daemon_heartbeats().values()]
    daemon_alive = bool(heartbeats) and now - max(heartbeats) < DAEMON_ALIVE_SECONDS
    pending = []
    for record in records:
        if record.dagster_run.status is dg.DagsterRunStatus.QUEUED:
            if daemon_alive:
                pending.append(record)
        elif now - _last_record_time(instance, record) < ABANDONED_AFTER_SECONDS:
            pending.append(record)
    return pending


def _last_record_time(instance: dg.DagsterInstance, record: dg.RunRecord) -> float:
    page = instance.get_records_for_run(record.dagster_run.run_id, limit=1, ascending=False)
    newest = page.records[0].timestamp if page.records else None
    return max(newest or 0.0, record.update_timestamp.timestamp())


def _wait(
    instance: dg.DagsterInstance,
    blocking: Callable[[dg.RunRecord], bool],
    notify: Callable[[str], None],
) -> None:
    told: set[str] = set()
    while runs := [r for r in _unfinished_refresh_runs(instance) if blocking(r)]:
        for record in runs:
            if record.dagster_run.run_id not in told:
                told.add(record.dagster_run.run_id)
                notify(record.dagster_run.run_id)
        time.sleep(POLL_SECONDS)


def wait_for_refresh_runs(
    instance: dg.DagsterInstance, notify: Callable[[str], None] = lambda _: None
) -> None:
    """Return once no refresh run is queued or in progress on ``instance`` (before creating
    one outside the queue); ``notify`` hears each run waited for, once."""
    _wait(instance, lambda _: True, notify)


def wait_for_earlier_refresh_runs(context: dg.AssetExecutionContext) -> None:
    """In a refresh run's first step: return once every refresh run created before this
    one has ended."""
    if REFRESH_RUN_TAG not in context.run.tags:
        return
    own = context.instance.get_run_record_by_id(context.run.run_id)
    if own is None:
        return
    _wait(
        context.instance,
        lambda record: record.storage_id < own.storage_id,
        lambda run_id: context.log.info(
            f"waiting for refresh run {run_id}, created before this one, to finish"
        ),
    )
