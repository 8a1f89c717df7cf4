"""Jobs generated from the registry: one per refresh tier, one for the source changes.

Each run starts with the cleaned layer's step (definitions, stored order facts), then
refreshes its views. Their runs carry ``QUEUED_REFRESH_TAGS``: the run queue
(``dagster.yaml``) starts one such run at a time, because every one of them materializes
the cleaned layer, and two at once would interleave their materializations and checks
(``database/run_order.py``). A run's console (the terminal of `make demo`, a code
server's log) shows only its warnings and errors; the UI shows all of its events.
"""

from __future__ import annotations

import dagster as dg

from soleflip_bi.shared.catalogue import Source
from soleflip_bi.shared.tags import QUEUED_REFRESH_TAGS, TIER_TAG
from soleflip_bi.views.assets import refresh_selection
from soleflip_bi.views.registry import VIEWS, Tier, views_in_tier
from soleflip_bi.views.runs import QUIET_CONSOLE

TIER_JOBS: dict[Tier, dg.UnresolvedAssetJobDefinition] = {
    tier: dg.define_asset_job(
        f"refresh_{tier.value}",
        selection=refresh_selection([v.name for v in views_in_tier(tier)]),
        description=f"Refresh the {tier.value} views (and run their checks).",
        tags={TIER_TAG: tier.value, **QUEUED_REFRESH_TAGS},
        config=QUIET_CONSOLE,
    )
    for tier in Tier
}


def views_changed_by(sources: list[Source]) -> list[str]:
    """The views that changes of ``sources`` refresh, in registry order."""
    return [view.name for view in VIEWS if view.watches & set(sources)]


SOURCE_JOB = dg.define_asset_job(
    "refresh_on_source_change",
    selection=refresh_selection(views_changed_by(list(Source))),
    description="Refresh the views that the changed source tables feed; each run selects "
    "the views of the tables its changes touched.",
    tags=QUEUED_REFRESH_TAGS,
    config=QUIET_CONSOLE,
    # A sensor run is a second or two of PostgreSQL work; a process per step would
    # cost several seconds each. Steps still take their slot in the refresh pool.
    executor_def=dg.in_process_executor,
)
