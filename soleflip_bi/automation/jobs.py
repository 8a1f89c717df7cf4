"""Jobs generated from the registry: one per refresh tier, one per watched source.

Each run starts with the cleaned layer's step (definitions, stored order facts), then
refreshes its views.
"""

from __future__ import annotations

import dagster as dg

from soleflip_bi.shared.catalogue import Source
from soleflip_bi.shared.tags import TIER_TAG
from soleflip_bi.views.assets import refresh_selection
from soleflip_bi.views.registry import Tier, views_in_tier, views_refreshed_on

TIER_JOBS: dict[Tier, dg.UnresolvedAssetJobDefinition] = {
    tier: dg.define_asset_job(
        f"refresh_{tier.value}",
        selection=refresh_selection([v.name for v in views_in_tier(tier)]),
        description=f"Refresh the {tier.value} views (and run their checks).",
        tags={TIER_TAG: tier.value},
    )
    for tier in Tier
}

SOURCE_JOBS: dict[Source, dg.UnresolvedAssetJobDefinition] = {
    source: dg.define_asset_job(
        f"refresh_on_{source.value}_change",
        selection=refresh_selection([v.name for v in views_refreshed_on(source)]),
        description=f"Refresh the views that {source.value} changes affect.",
        tags={"soleflip/source": source.value},
        # A sensor run is a second or two of PostgreSQL work; a process per step would
        # cost several seconds each. Steps still take their slot in the refresh pool.
        executor_def=dg.in_process_executor,
    )
    for source in Source
}
