"""Refreshing views as Dagster runs, so that every refresh is recorded in the instance."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from soleflip_bi.database.connection import resolve_database_url
from soleflip_bi.database.run_order import WAIT_LIMIT_SECONDS, wait_for_refresh_runs
from soleflip_bi.shared.tags import REFRESH_RUN_TAGS
from soleflip_bi.views.assets import refresh_selection
from soleflip_bi.views.registry import ViewSpec

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
    wait_seconds: float = WAIT_LIMIT_SECONDS,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """Materialize the cleaned layer and the given views (with their checks), and the
    assets ``also`` selects, in one run on ``instance``.

    ``defs`` is the whole code location, handed down by the caller, so that the selection
    resolves against the same graph the UI shows. It runs in this process, outside the run
    queue, so it is created only once no refresh run is queued or in progress (for at
    most ``wait_seconds``), and runs created after it wait for it
    (``database/run_order.py``).
    """
    selection = refresh_selection(spec.name for spec in specs)
    if also is not None:
        selection = selection | also
    job = dg.define_asset_job("__soleflip_bi_cli_refresh", selection=selection)
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(job.name)
    wait_for_refresh_runs(instance, resolve_database_url(), on_wait, wait_seconds)
    return resolved.execute_in_process(
        instance=instance,
        run_id=run_id,
        tags={"soleflip/trigger": "cli", **REFRESH_RUN_TAGS, **(tags or {})},
        run_config=QUIET_CONSOLE,
        raise_on_error=raise_on_error,
    )
