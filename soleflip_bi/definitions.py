"""The Dagster code location, read top-down: sources -> cleaned layer -> views."""

from __future__ import annotations

import dagster as dg

from soleflip_bi.cleaned.assets import cleaned_layer
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.sources.assets import build_source_assets
from soleflip_bi.views.assets import VIEW_ASSETS

defs = dg.Definitions(
    assets=[*build_source_assets(), cleaned_layer, *VIEW_ASSETS],
    resources={"postgres": PostgresResource()},
    # Refreshes are SQL running in PostgreSQL: one process per run is enough, and it
    # keeps the latency from an order to its view low.
    executor=dg.in_process_executor,
)
