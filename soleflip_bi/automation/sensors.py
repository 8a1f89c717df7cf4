"""One sensor over every watched table: refresh what a change affects, in one run.

The watched tables are the orders, the stock items and the exchange rates. A rate load is
watched like a source rather than queued by `soleflip-bi rates load`: rates are written by
whoever the shop lets write them (the command, a DBA's correction, a job of the shop's),
and a load made while Dagster is down is still seen when it comes back, from the cursor.

Each tick reads the change log (``capture/poll.py``) of every source since the snapshot in
its cursor, in one snapshot, so the order and the stock item one transaction wrote are
seen together:

* nothing new                          -> skip, no run;
* changes still arriving (a burst)     -> wait until the sources have been quiet for a
                                          window that adapts to the rate of writes
                                          (``quiet_window``; at most ``MAX_WAIT_SECONDS`` in
                                          all), so a burst gives one refresh, not many;
* a run of this sensor is still queued -> skip when it selects every view these changes
  and covers what they affect             affect: it has not started reading, so it will
                                          include them (never a retry: a re-execution from
                                          failure runs only the steps its parent did not
                                          finish, so it may not read the sources again);
* otherwise                            -> request one run whose selection is the cleaned
                                          layer and the union of the views the changed
                                          sources feed.

A tick keeps looking (every ``POLL_SECONDS`` for ``TICK_SECONDS``) until it has
something to request, so a change is seen a fraction of a second after its commit, not
at the daemon's next round of ticks five seconds later.

Runs never overlap: every refresh run carries the tag the run queue limits to one at a
time (``automation/jobs.py``), so a run requested while another refreshes waits for it.

The cursor (a PostgreSQL snapshot) lives in Dagster's storage, so it survives daemon
restarts; it only advances when the changes it covers are handled. With no cursor (a new
deployment) the sensor begins at the snapshot the views were last built from, when all of
its views were built from it (so `soleflip-bi demo` starts no run for its own load);
otherwise every change still in the log counts, and the first tick catches up once.

Whenever the cursor moves over changes, the sensor records an observation of each source
table that changed (``sources/observe.py``): the snapshot as data version, statements per
operation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

from soleflip_bi.automation.jobs import SOURCE_JOB, views_changed_by
from soleflip_bi.bookkeeping.baseline import built_from
from soleflip_bi.capture.install import ChangeCaptureMissing
from soleflip_bi.capture.poll import ChangePoll, poll_changes, prune_changes
from soleflip_bi.cleaned.facts import FACTS_NAME
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.shared.catalogue import Source, watched_table
from soleflip_bi.shared.tags import CHANGES_TAG, QUIET_TAG, SENSOR_TAG, SOURCES_TAG
from soleflip_bi.sources.observe import observe_table
from soleflip_bi.views.assets import refresh_selection

# The daemon starts a round every 5 s whatever is set here; said so, the UI shows it.
MINIMUM_INTERVAL_SECONDS = 5
# The quiet window adapts to the rate of writes: QUIET_GAPS times the mean gap between the
# burst's changes, within MIN_QUIET_SECONDS (a single change) and MAX_QUIET_SECONDS.
MIN_QUIET_SECONDS = 0.5
MAX_QUIET_SECONDS = 2.0
QUIET_GAPS = 4.0
MAX_WAIT_SECONDS = 30.0
# Dagster's sensor daemon starts a round of ticks every 5 s (MIN_INTERVAL_LOOP_TIME in
# dagster/_daemon/sensor.py), so a tick keeps looking for this long, every POLL_SECONDS,
# and requests the run the moment a burst is over instead of at the next round.
TICK_SECONDS = 4.0
POLL_SECONDS = 0.2
WAITING_STATUSES = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]

SENSOR_NAME = "source_changes_sensor"
WATCHED = list(Source)


def waiting_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """This sensor's runs that have not started yet and will read the sources, oldest
    first. A retry carries its parent's tags but is a re-execution from failure
    (``ReexecutionStrategy.FROM_FAILURE`` in dagster/_daemon/auto_run_reexecution): if its
    parent's cleaned step finished, it does not read the sources again."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=WAITING_STATUSES, tags={SENSOR_TAG: SENSOR_NAME}),
        limit=5,
        ascending=True,
    )
    return [record.dagster_run for record in records if record.dagster_run.parent_run_id is None]


Clock = Callable[[ChangePoll], datetime]


def database_clock(poll: ChangePoll) -> datetime:
    """The database's own time at the poll: the clock the change times were stamped with."""
    return poll.database_now


def quiet_window(poll: ChangePoll) -> float:
    """How long the sources must have been quiet for ``poll``'s burst to be over: a few
    times the mean gap between its changes, so a lone order waits half a second and a
    stream of writes a little longer than its own rhythm."""
    if poll.changes < 2:
        return MIN_QUIET_SECONDS
    gap = (poll.newest_change - poll.oldest_change).total_seconds() / (poll.changes - 1)
    return min(MAX_QUIET_SECONDS, max(MIN_QUIET_SECONDS, QUIET_GAPS * gap))


def still_arriving(poll: ChangePoll, now: datetime) -> str | None:
    """Why to wait for more of a burst at ``now``, or ``None`` when it is time to run."""
    quiet_for = (now - poll.newest_change).total_seconds()
    waited = (now - poll.oldest_change).total_seconds()
    window = quiet_window(poll)
    if quiet_for < window and waited < MAX_WAIT_SECONDS:
        return (
            f"{poll.changes} changes, still arriving; waiting for a quiet "
            f"{window:.1f} s (at most {MAX_WAIT_SECONDS:.0f} s)"
        )
    return None


def refresh_request(
    graph: AssetGraph, poll: ChangePoll
) -> tuple[frozenset[dg.AssetKey], list[dg.AssetCheckKey]]:
    """What one run for ``poll``'s changes materializes and checks: the cleaned layer and
    the views of every source that changed, with all their checks."""
    selection = refresh_selection(views_changed_by(poll.sources))
    keys = frozenset(selection.resolve(graph))
    return keys, sorted(selection.resolve_checks(graph), key=lambda k: k.to_user_string())


def build_change_sensor(
    clock: Clock = database_clock, tick_seconds: float = TICK_SECONDS
) -> dg.SensorDefinition:
    """The sensor of every change stream; ``clock`` tells the time a burst is judged at, and
    a tick looks again every POLL_SECONDS for ``tick_seconds`` (0: one look per tick)."""
    view_names = views_changed_by(WATCHED)

    @dg.sensor(
        name=SENSOR_NAME,
        job=SOURCE_JOB,
        minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Refreshes the views that order, inventory and exchange-rate changes "
        "affect: one run per burst, selecting the views of every table that changed.",
    )
    def change_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
        give_up = time.monotonic() + tick_seconds
        try:
            with postgres.connect() as conn:
                start = None
                if context.cursor is None:  # a new deployment: begin after the last build
                    start = built_from(conn, FACTS_NAME, view_names)
                while True:
                    poll = poll_changes(conn, WATCHED, context.cursor or start)
                    waiting = still_arriving(poll, clock(poll)) if poll.changes else None
                    if (poll.changes and waiting is None) or time.monotonic() >= give_up:
                        break
                    time.sleep(POLL_SECONDS)
                if poll.changes == 0:
                    if context.cursor:
                        for source in WATCHED:
                            prune_changes(conn, source, context.cursor)
                    return dg.SensorResult(
                        skip_reason="no committed change since the last tick"
                        + (" (the views were built from the latest changes)" if start else ""),
                        cursor=start or context.cursor,
                    )
                if waiting:
                    return dg.SkipReason(waiting)
                observations = [
                    observe_table(conn, table, poll.snapshot, operations)
                    for source, operations in poll.by_source.items()
                    if (table := watched_table(source)) is not None
                ]
        except ChangeCaptureMissing as missing:
            return dg.SkipReason(str(missing))

        keys, checks = refresh_request(context.repository_def.asset_graph, poll)
        covering = [
            run
            for run in waiting_runs(context.instance)
            if run.asset_selection is None or keys <= run.asset_selection
        ]
        if covering:
            return dg.SensorResult(
                skip_reason=f"{poll.changes} changes will be picked up by run "
                f"{covering[0].run_id}, still queued",
                cursor=poll.snapshot,
                asset_events=observations,
            )
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=poll.snapshot,
                    asset_selection=sorted(keys, key=lambda k: k.to_user_string()),
                    asset_check_keys=checks,
                    tags={
                        SENSOR_TAG: SENSOR_NAME,
                        CHANGES_TAG: str(poll.changes),
                        SOURCES_TAG: ",".join(source.value for source in poll.sources),
                        QUIET_TAG: f"{quiet_window(poll):.2f}",
                    },
                )
            ],
            cursor=poll.snapshot,
            asset_events=observations,
        )

    return change_sensor


def build_sensors() -> list[dg.SensorDefinition]:
    return [build_change_sensor()]
