"""The commands' Dagster side: refresh runs recorded in the instance, and the demo's build.

Loaded only by a command that starts a run (``cli/commands.py``), so that the commands
that need only PostgreSQL do not pay for importing Dagster and building the definitions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster._core.utils import make_new_run_id
from dagster._daemon.auto_run_reexecution.event_log_consumer import (
    DAGSTER_EVENT_TYPES as CONSUMED_EVENT_TYPES,
)
from dagster._daemon.auto_run_reexecution.event_log_consumer import (
    _create_cursor_key as _consumer_cursor_key,
)

from soleflip_bi.dashboards.assets import METABASE_DASHBOARDS_KEY
from soleflip_bi.dashboards.data_model import DATA_MODEL_KEY
from soleflip_bi.database.connection import check_reachable, connect, resolve_database_url
from soleflip_bi.database.run_order import WAIT_LIMIT_SECONDS
from soleflip_bi.definitions import defs
from soleflip_bi.instance import prepare_dagster_environment
from soleflip_bi.sources.observe import observe_all
from soleflip_bi.views.errors import RefreshFailed
from soleflip_bi.views.registry import VIEWS, ViewSpec
from soleflip_bi.views.runs import refresh_views


def run_refresh(
    specs: list[ViewSpec], wait_seconds: float | None = None, tags: dict[str, str] | None = None
) -> int:
    """Refresh ``specs`` in one Dagster run (with ``tags``); print each view as it finishes."""
    result = refresh_in_dagster(
        specs, progress=True, wait_seconds=wait_seconds or WAIT_LIMIT_SECONDS, tags=tags
    )
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    for evaluation in failed:
        print(f"check failed: {evaluation.asset_key.to_user_string()} {evaluation.check_name}")
    outcome = "succeeded" if result.success else "failed"
    print(f"Dagster run {result.run_id}: {outcome} (the UI shows it under /runs/{result.run_id})")
    return 0 if result.success else 1


def refresh_in_dagster(
    specs: list[ViewSpec],
    also: dg.AssetSelection | None = None,
    progress: bool = False,
    wait_seconds: float = WAIT_LIMIT_SECONDS,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """One run refreshing ``specs``; with ``progress``, each view is printed (mode, rows,
    seconds) as soon as its step has recorded it, while the run goes on."""
    check_reachable(resolve_database_url())  # one sentence, and no run, if it is not
    prepare_dagster_environment()
    logging.getLogger("dagster").setLevel(logging.WARNING)
    with dg.DagsterInstance.get() as instance:
        run_id = make_new_run_id()
        if progress:
            print(f"Dagster run {run_id} started", flush=True)
        names = {spec.name for spec in specs}
        with _printing_views(instance, run_id, names if progress else set()):
            result = refresh_views(
                defs,
                specs,
                instance,
                also=also,
                run_id=run_id,
                on_wait=_waiting_for,
                wait_seconds=wait_seconds,
                tags=tags,
                raise_on_error=False,
            )
    if not result.success:
        said = _failure_descriptions(result)
        raise RefreshFailed(
            f"refresh run {result.run_id} failed"
            + (f": {'; '.join(said)}" if said else "; see the Dagster UI")
        )
    return result


def _failure_descriptions(result: dg.ExecuteInProcessResult) -> list[str]:
    """What each failed step said: a ``dg.Failure``'s description (a known refusal, in
    words), else the first line of its error."""
    said = []
    for event in result.all_events:
        data = event.step_failure_data if event.is_step_failure else None
        if data is None:
            continue
        failure = data.user_failure_data
        if failure is not None and failure.description:
            said.append(failure.description)
        elif data.error is not None:
            cause = data.error.cause or data.error
            said.append(f"{event.step_key}: {cause.message.strip().splitlines()[0]}")
    return said


def _waiting_for(run: str) -> None:
    print(f"waiting for refresh run {run} to finish (one refresh run at a time)", flush=True)


@contextmanager
def _printing_views(instance: dg.DagsterInstance, run_id: str, names: set[str]) -> Iterator[None]:
    """Print the materializations of ``names`` in run ``run_id`` as they are stored."""
    if not names:
        yield
        return
    stop = threading.Event()
    cursor: list[str | None] = [None]

    def poll() -> None:
        page = instance.get_records_for_run(
            run_id, cursor=cursor[0], of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        )
        cursor[0] = page.cursor
        for record in page.records:
            event = record.event_log_entry.dagster_event
            materialization = event.event_specific_data.materialization if event else None
            key = materialization.asset_key.path if materialization else []
            if len(key) == 2 and key[1] in names:
                meta = materialization.metadata
                print(
                    f"{key[1]:<32} {meta['refresh_mode'].value:<10} "
                    f"{meta['dagster/row_count'].value:>9,} rows "
                    f"{meta['duration_seconds'].value:7.2f} s",
                    flush=True,
                )

    def watch() -> None:
        while not stop.wait(PROGRESS_POLL_SECONDS):
            poll()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        poll()  # what the last poll did not see yet


PROGRESS_POLL_SECONDS = 0.5


def refresh_everything() -> None:
    """Build everything the graph holds (used by `soleflip-bi demo`): observe every source
    table, then in one run the cleaned layer, all views, the dashboards (exported without a
    Metabase) and Metabase's data model, so that nothing in the UI is "never materialized".
    """
    prepare_dagster_environment()
    with dg.DagsterInstance.get() as instance, connect() as conn:
        for observation in observe_all(conn):  # first: the build then reads these versions
            instance.report_runless_asset_event(observation)
    dashboards = dg.AssetSelection.assets(METABASE_DASHBOARDS_KEY, DATA_MODEL_KEY)
    result = refresh_in_dagster(list(VIEWS), also=dashboards)
    print(f"all {len(VIEWS)} views and the dashboards built (Dagster run {result.run_id})")


def daemon_heartbeat_age() -> float | None:
    """Seconds since a Dagster daemon of this instance last said it was alive, if one did."""
    prepare_dagster_environment()
    with dg.DagsterInstance.get() as instance:
        heartbeats = instance.get_daemon_heartbeats().values()
    newest = max((h.timestamp for h in heartbeats), default=None)
    return None if newest is None else max(0.0, time.time() - newest)


def start_event_consumer_at_the_newest_event() -> None:
    """What the daemon's event-log consumer (run retries) does by itself on a new instance,
    done before it starts: begin after the newest event, so that it does not warn on the
    demo's console that it found no cursor and is ignoring older events."""
    with dg.DagsterInstance.get() as instance:
        keys = {_consumer_cursor_key(event_type) for event_type in CONSUMED_EVENT_TYPES}
        missing = keys - set(instance.daemon_cursor_storage.get_cursor_values(keys))
        if missing:
            newest = str(instance.event_log_storage.get_maximum_record_id() or 0)
            instance.daemon_cursor_storage.set_cursor_values(dict.fromkeys(missing, newest))


def forget_daemon_heartbeats() -> None:
    """After the demo stopped its daemon: nothing of it is alive any more."""
    with dg.DagsterInstance.get() as instance:
        instance.wipe_daemon_heartbeats()


def dagster_environment() -> dict[str, str]:
    """The environment the Dagster processes of the demo run with."""
    return prepare_dagster_environment()
