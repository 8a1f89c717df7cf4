"""Sensors on ``sales."order"`` and ``inventory.stock``: refresh what a change affects.

Each tick reads the change log (``capture/poll.py``) since the snapshot in its cursor:

* nothing new                          -> skip, no run;
* changes still arriving (a burst)     -> wait until the source has been quiet for
                                          ``QUIET_SECONDS`` (at most ``MAX_WAIT_SECONDS``),
                                          so a burst gives one refresh, not many;
* a run of this sensor is still queued -> skip: that run has not started reading, so it
                                          will include these changes;
* otherwise                            -> request one run of the affected views.

The cursor (a PostgreSQL snapshot) lives in Dagster's storage, so it survives daemon
restarts; it only advances when the changes it covers are handled. With no cursor (a new
deployment) the sensor begins at the snapshot the views were last built from, when all of
its views were built from it (so `soleflip-bi demo` starts no run for its own load);
otherwise every change still in the log counts, and the first tick catches up once.

Whenever the cursor moves over changes, the sensor records an observation of its source
table (``sources/observe.py``): the snapshot as data version, statements per operation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import dagster as dg

from soleflip_bi.automation.jobs import SOURCE_JOBS
from soleflip_bi.bookkeeping.baseline import built_from
from soleflip_bi.capture.install import ChangeCaptureMissing
from soleflip_bi.capture.poll import ChangePoll, poll_changes, prune_changes
from soleflip_bi.cleaned.facts import FACTS_NAME
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.shared.catalogue import Source, watched_table
from soleflip_bi.shared.tags import SENSOR_TAG
from soleflip_bi.sources.observe import observe_table
from soleflip_bi.views.registry import views_refreshed_on

MINIMUM_INTERVAL_SECONDS = 2
QUIET_SECONDS = 2.0
MAX_WAIT_SECONDS = 30.0
WAITING_STATUSES = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]

SENSOR_NAMES: dict[Source, str] = {
    Source.ORDERS: "orders_changed_sensor",
    Source.INVENTORY: "inventory_changed_sensor",
}


def waiting_run_ids(instance: dg.DagsterInstance, sensor_name: str) -> list[str]:
    runs = instance.get_run_records(
        filters=dg.RunsFilter(statuses=WAITING_STATUSES, tags={SENSOR_TAG: sensor_name}),
        limit=5,
    )
    return [record.dagster_run.run_id for record in runs]


Clock = Callable[[ChangePoll], datetime]


def database_clock(poll: ChangePoll) -> datetime:
    """The database's own time at the poll: the clock the change times were stamped with."""
    return poll.database_now


def still_arriving(poll: ChangePoll, now: datetime) -> str | None:
    """Why to wait for more of a burst at ``now``, or ``None`` when it is time to run."""
    quiet_for = (now - poll.newest_change).total_seconds()
    waited = (now - poll.oldest_change).total_seconds()
    if quiet_for < QUIET_SECONDS and waited < MAX_WAIT_SECONDS:
        return (
            f"{poll.changes} changes, still arriving; waiting for a quiet "
            f"{QUIET_SECONDS:.0f} s (at most {MAX_WAIT_SECONDS:.0f} s)"
        )
    return None


def build_change_sensor(source: Source, clock: Clock = database_clock) -> dg.SensorDefinition:
    """The sensor of one change stream; ``clock`` tells the time a burst is judged at."""
    name = SENSOR_NAMES[source]
    job = SOURCE_JOBS[source]
    table = watched_table(source)
    view_names = [view.name for view in views_refreshed_on(source)]

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Refreshes the views {source.value} changes affect, once per burst.",
    )
    def change_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
        try:
            with postgres.connect() as conn:
                start = None
                if context.cursor is None:  # a new deployment: begin after the last build
                    start = built_from(conn, FACTS_NAME, view_names)
                poll = poll_changes(conn, source, context.cursor or start)
                if poll.changes == 0:
                    if context.cursor:
                        prune_changes(conn, source, context.cursor)
                    return dg.SensorResult(
                        skip_reason="no committed change since the last tick"
                        + (" (the views were built from the latest changes)" if start else ""),
                        cursor=start or context.cursor,
                    )
                observation = observe_table(conn, table, poll.snapshot, poll.operations)
        except ChangeCaptureMissing as missing:
            return dg.SkipReason(str(missing))

        waiting = still_arriving(poll, clock(poll))
        if waiting:
            return dg.SkipReason(waiting)

        queued = waiting_run_ids(context.instance, name)
        if queued:
            return dg.SensorResult(
                skip_reason=f"{poll.changes} changes will be picked up by run {queued[0]}, "
                "still queued",
                cursor=poll.snapshot,
                asset_events=[observation],
            )
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=poll.snapshot,
                    tags={SENSOR_TAG: name, "soleflip/changes": str(poll.changes)},
                )
            ],
            cursor=poll.snapshot,
            asset_events=[observation],
        )

    return change_sensor


def build_sensors() -> list[dg.SensorDefinition]:
    return [build_change_sensor(source) for source in Source]
