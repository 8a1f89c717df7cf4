"""Refreshing views as Dagster runs, so that every refresh is recorded in the instance."""

from __future__ import annotations

import time
from collections.abc import Callable

import dagster as dg

from soleflip_bi.shared.tags import REFRESH_RUN_TAGS
from soleflip_bi.views.assets import refresh_selection
from soleflip_bi.views.registry import ViewSpec

ACTIVE_STATUSES = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
WAIT_POLL_SECONDS = 0.5

# The run's events are in the instance (and the UI); the terminal only needs warnings.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def refresh_views(
    defs: dg.Definitions,
    specs: list[ViewSpec],
    instance: dg.DagsterInstance,
    tags: dict[str, str] | None = None,
    also: dg.AssetSelection | None = None,
    run_id: str | None = None,
    on_wait: Callable[[str], None] = lambda _: None,
) -> dg.ExecuteInProcessResult:
    """Materialize the cleaned layer and the given views (with their checks), and the
    assets ``also`` selects, in one run on ``instance``.

    ``defs`` is the whole code location, handed down by the caller, so that the selection
    resolves against the same graph the UI shows. It runs in this process, outside the run
    queue, so it first waits for the refresh runs in progress (``wait_for_refresh_runs``);
    once it has started, its tag holds the queue's refresh runs back until it ends.
    """
    selection = refresh_selection(spec.name for spec in specs)
    if also is not None:
        selection = selection | also
    job = dg.define_asset_job("__soleflip_bi_cli_refresh", selection=selection)
    wait_for_refresh_runs(instance, on_wait)
    result = (
        dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
        .resolve_job_def(job.name)
        .execute_in_process(
            instance=instance,
            run_id=run_id,
            tags={"soleflip/trigger": "cli", **REFRESH_RUN_TAGS, **(tags or {})},
            run_config=QUIET_CONSOLE,
        )
    )
    return result


def wait_for_refresh_runs(
    instance: dg.DagsterInstance, notify: Callable[[str], None] = lambda _: None
) -> None:
    """Return once no refresh run is in progress on ``instance``; ``notify`` hears which
    run is waited for, once per run. Two refresh runs at once would interleave their
    materializations of the cleaned layer and of the views they share."""
    told: set[str] = set()
    while True:
        records = instance.get_run_records(
            filters=dg.RunsFilter(statuses=ACTIVE_STATUSES, tags=REFRESH_RUN_TAGS), limit=1
        )
        if not records:
            return
        run_id = records[0].dagster_run.run_id
        if run_id not in told:
            told.add(run_id)
            notify(run_id)
        time.sleep(WAIT_POLL_SECONDS)
