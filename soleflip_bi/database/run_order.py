"""One refresh run at a time, whoever started it.

Every refresh run materializes the cleaned layer, so two at once would interleave their
materializations and checks, and the UI would show checks that belong to an older
materialization. The run queue starts one run tagged ``REFRESH_RUN_TAG`` at a time
(``dagster.yaml``), but a run the command line executes in its own process is not
dequeued: it becomes active the moment it starts, and the queue may have launched one a
moment before. So the first step of every refresh run (the cleaned layer's) also waits for
the refresh runs that became active before its own, which orders any two runs by when
they started, whatever started them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import dagster as dg

from soleflip_bi.shared.tags import REFRESH_RUN_TAG, REFRESH_RUN_TAGS

ACTIVE_STATUSES = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
POLL_SECONDS = 0.5


def _active_refresh_runs(instance: dg.DagsterInstance) -> list[dg.RunRecord]:
    return list(
        instance.get_run_records(
            filters=dg.RunsFilter(statuses=ACTIVE_STATUSES, tags=REFRESH_RUN_TAGS)
        )
    )


def _wait(
    instance: dg.DagsterInstance,
    blocking: Callable[[list[dg.RunRecord]], list[dg.RunRecord]],
    notify: Callable[[str], None],
) -> None:
    told: set[str] = set()
    while runs := blocking(_active_refresh_runs(instance)):
        for record in runs:
            if record.dagster_run.run_id not in told:
                told.add(record.dagster_run.run_id)
                notify(record.dagster_run.run_id)
        time.sleep(POLL_SECONDS)


def wait_for_refresh_runs(
    instance: dg.DagsterInstance, notify: Callable[[str], None] = lambda _: None
) -> None:
    """Return once no refresh run is active on ``instance`` (before starting one outside
    the queue); ``notify`` hears each run waited for, once."""
    _wait(instance, lambda runs: runs, notify)


def wait_for_earlier_refresh_runs(context: dg.AssetExecutionContext) -> None:
    """In a refresh run's first step: return once every refresh run that became active
    before this one has ended (ties go by run id)."""
    if REFRESH_RUN_TAG not in context.run.tags:
        return
    instance = context.instance
    own = instance.get_run_record_by_id(context.run_id)
    mine = (own.start_time or time.time(), context.run_id) if own else (time.time(), "")

    def earlier(runs: list[dg.RunRecord]) -> list[dg.RunRecord]:
        return [
            r
            for r in runs
            if r.dagster_run.run_id != context.run_id
            and r.start_time is not None
            and (r.start_time, r.dagster_run.run_id) < mine
        ]

    _wait(
        instance,
        earlier,
        lambda run_id: context.log.info(
            f"waiting for refresh run {run_id} to finish: one refresh run at a time"
        ),
    )
