"""One refresh at a time, in the order the runs were created, whoever created them; and a
run whose process died never holds the others up.

Dagster records a run's asset checks as planned when it creates the run, and shows the
check planned last as an asset's latest. So every refresh run must not only run alone (its
cleaned layer and views would interleave with another's) but also in the order the runs
were created; otherwise the UI shows checks as belonging to an older materialization.

A *refresh run* is any run with a step in the pool ``analytics_refresh`` (the cleaned
layer and every view are in it): Dagster computes a run's pools when it creates the run
(``DagsterRun.run_op_concurrency``), so this covers the sensor's and the schedules' jobs,
`views refresh`, and what the UI launches (Materialize, Materialize all, the launchpad,
backfills), none of which needs a tag of ours.

* **The run queue** (``dagster.yaml``): the pool has a limit of 1 at *run* granularity
  (``concurrency.pools.granularity: run``), so the queue starts a queued refresh run only
  while no refresh run is in progress, oldest first. A run in progress counts whether the
  queue started it or not (`views refresh` runs in its own process).
* **`views refresh`** waits, before creating its run, until no refresh run is queued or in
  progress; it names each run it waits for, and gives up with one sentence when a queued
  run has no daemon to start it or the wait passes its bound.
* **Every refresh step** first waits until every refresh run *in progress* that was created
  before its own has ended. This closes what the two above leave open: a run the queue
  started while `views refresh` was creating its own. An earlier run that is still queued
  is not waited for: it cannot start while this one is in progress, and waiting for it
  would be a deadlock.
* **A dead run is failed** (``fail_dead_runs``): a refresh run in progress whose liveness
  lock nobody holds (``database/liveness.py``: its processes are gone) and that recorded
  nothing for ``DEAD_AFTER_SECONDS`` is reported failed through Dagster
  (``DagsterInstance.report_run_failed``), which frees its place in the pool. The
  ``dead_refresh_runs`` sensor does it every ``SWEEP_SECONDS``, and so does every waiter
  above, so `views refresh` also gets past a dead run when no daemon is running. The
  changes the dead run covered are still in the change log (its transactions rolled back
  with its sessions), so the next refresh run refreshes them.

What is left open: a sensor run created in the few milliseconds between `views refresh`'s
last look and the creation of its own run starts after it. Both runs refresh everything
that changed, and the next run shows each check on its latest materialization again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import dagster as dg
import psycopg
from dagster._core.events import JobFailureData, RunFailureReason

from soleflip_bi.database.errors import RefreshWaitError
from soleflip_bi.database.liveness import hold_liveness, processes_alive
from soleflip_bi.database.steps import REFRESH_POOL
from soleflip_bi.shared.tags import REFRESH_RUN_TAG

QUEUED_STATUSES = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED]
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
# Only these are judged by their liveness; a run being canceled is Dagster's to end
# (run_monitoring.cancel_timeout_seconds).
JUDGED_STATUSES = {dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED}
POLL_SECONDS = 0.25
# A daemon heartbeats every 30 s; without a live one, nothing will ever start a queued run.
DAEMON_ALIVE_SECONDS = 60.0
# A live run holds no liveness lock only while its worker starts, between two steps, or
# in a step that is not a refresh (dashboards); all of these record events every few
# seconds.
# Longer than that, and short enough that a dead run is failed within two minutes of its
# death (this, plus a sweep, plus the 5 s a blocked backend takes to notice).
DEAD_AFTER_SECONDS = 60.0
SWEEP_SECONDS = 15.0
# How long `views refresh` waits for live runs before it gives up (its own flag can
# change it): a refresh's statements time out after 15 minutes.
WAIT_LIMIT_SECONDS = 20 * 60.0


def is_refresh_run(run: dg.DagsterRun) -> bool:
    """Whether ``run`` has a step in the refresh pool (or is tagged as a refresh run)."""
    pools = run.run_op_concurrency.all_pools if run.run_op_concurrency else None
    return REFRESH_POOL in (pools or ()) or REFRESH_RUN_TAG in run.tags


def unfinished_refresh_runs(instance: dg.DagsterInstance) -> list[dg.RunRecord]:
    """The refresh runs queued or in progress, oldest first."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=QUEUED_STATUSES + ACTIVE_STATUSES), ascending=True
    )
    return [record for record in records if is_refresh_run(record.dagster_run)]


def fail_dead_runs(instance: dg.DagsterInstance, conn: psycopg.Connection) -> list[str]:
    """Report failed every refresh run in progress whose processes are gone; their ids."""
    judged = [
        record
        for record in unfinished_refresh_runs(instance)
        if record.dagster_run.status in JUDGED_STATUSES
    ]
    alive = processes_alive(conn, [record.dagster_run.run_id for record in judged])
    failed = []
    now = time.time()
    for record in judged:
        run = record.dagster_run
        if run.run_id in alive:
            continue
        quiet = now - _last_record_time(instance, record)
        if quiet < DEAD_AFTER_SECONDS:
            continue
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.status not in JUDGED_STATUSES:
            continue  # it ended while we looked
        instance.report_run_failed(
            current,
            f"The run's process is gone: none of its sessions holds its liveness lock in the "
            f"shop database, and it recorded nothing for {quiet:.0f} s (a killed run worker "
            "or code server, or a restarted host). Marked failed so that the next refresh "
            "run can start; that run refreshes the changes this one covered.",
            JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION),
        )
        failed.append(run.run_id)
    return failed


def _last_record_time(instance: dg.DagsterInstance, record: dg.RunRecord) -> float:
    page = instance.get_records_for_run(record.dagster_run.run_id, limit=1, ascending=False)
    newest = page.records[0].timestamp if page.records else None
    return max(newest or 0.0, record.update_timestamp.timestamp())


def _daemon_alive(instance: dg.DagsterInstance) -> bool:
    heartbeats = [h.timestamp for h in instance.get_daemon_heartbeats().values()]
    return bool(heartbeats) and time.time() - max(heartbeats) < DAEMON_ALIVE_SECONDS


def _describe(record: dg.RunRecord) -> str:
    run = record.dagster_run
    return f"{run.run_id} ({run.job_name}, {run.status.value.lower()})"


def _wait(
    instance: dg.DagsterInstance,
    url: str,
    blocking: Callable[[dg.RunRecord], bool],
    notify: Callable[[str], None],
    on_stuck: Callable[[list[dg.RunRecord], float], None] = lambda _runs, _waited: None,
) -> None:
    """Poll until no run ``blocking`` selects is unfinished, failing dead ones on the way;
    ``on_stuck`` hears what is still waited for and for how long, and may raise."""
    told: set[str] = set()
    started = time.monotonic()
    swept = float("-inf")
    while runs := [r for r in unfinished_refresh_runs(instance) if blocking(r)]:
        if time.monotonic() - swept >= SWEEP_SECONDS:
            with psycopg.connect(url, autocommit=True, application_name="soleflip-bi") as conn:
                fail_dead_runs(instance, conn)
            swept = time.monotonic()
            continue
        for record in runs:
            if record.dagster_run.run_id not in told:
                told.add(record.dagster_run.run_id)
                notify(_describe(record))
        on_stuck(runs, time.monotonic() - started)
        time.sleep(POLL_SECONDS)


def wait_for_refresh_runs(
    instance: dg.DagsterInstance,
    url: str,
    notify: Callable[[str], None] = lambda _: None,
    limit_seconds: float = WAIT_LIMIT_SECONDS,
) -> None:
    """Return once no refresh run is queued or in progress on ``instance`` (before creating
    one outside the queue); ``notify`` hears each run waited for, once. Raise
    ``RefreshWaitError`` when a queued run has no daemon to start it, or after
    ``limit_seconds``."""

    def give_up(runs: list[dg.RunRecord], waited: float) -> None:
        queued = [r for r in runs if r.dagster_run.status in QUEUED_STATUSES]
        if queued and not _daemon_alive(instance):
            raise RefreshWaitError(
                f"refresh run {_describe(queued[0])} is queued and no dagster-daemon is "
                "running to start it: start the daemon (or cancel that run in the Dagster "
                "UI), then run this again"
            )
        if waited > limit_seconds:
            raise RefreshWaitError(
                f"gave up after {waited:.0f} s waiting for refresh run {_describe(runs[0])} "
                "to finish: it is still alive; wait for it (see the Dagster UI), or "
                "raise --wait"
            )

    _wait(instance, url, lambda _: True, notify, give_up)


def wait_for_earlier_refresh_runs(context: dg.AssetExecutionContext, url: str) -> None:
    """At the start of a refresh step: return once every refresh run in progress that was
    created before this one has ended (or been failed as dead)."""
    own = context.instance.get_run_record_by_id(context.run.run_id)
    if own is None:
        return
    _wait(
        context.instance,
        url,
        lambda record: (
            record.storage_id < own.storage_id and record.dagster_run.status not in QUEUED_STATUSES
        ),
        lambda run: context.log.info(
            f"waiting for refresh run {run}, created before this one, to finish"
        ),
    )


@contextlib.contextmanager
def run_alive(context: dg.AssetExecutionContext, url: str) -> Iterator[None]:
    """Hold the run's liveness lock for the duration: for a step that may record nothing
    for a while. A database that cannot be reached is left to the step, which says so in
    its own words."""
    liveness = None
    with contextlib.suppress(psycopg.Error):
        liveness = hold_liveness(url, context.run.run_id)
    try:
        yield
    finally:
        if liveness is not None:
            liveness.close()


@contextlib.contextmanager
def refresh_step(context: dg.AssetExecutionContext, url: str) -> Iterator[None]:
    """The frame of every refresh step: the run is alive for the whole step (its wait
    included, during which the run records nothing), and the step's work begins once the
    refresh runs in progress created before this one have ended."""
    with run_alive(context, url):
        wait_for_earlier_refresh_runs(context, url)
        yield
