"""The Dagster code location, read top-down: sources -> cleaned layer -> views -> automation."""

from __future__ import annotations

import dagster as dg

from soleflip_bi.automation.jobs import SOURCE_JOBS, TIER_JOBS
from soleflip_bi.automation.schedules import build_schedules
from soleflip_bi.automation.sensors import build_sensors
from soleflip_bi.cleaned.assets import cleaned_layer
from soleflip_bi.dashboards.assets import dashboards_automation_sensor, metabase_dashboards
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.sources.observe import observe_sources
from soleflip_bi.views.assets import VIEW_ASSETS

defs = dg.Definitions(
    assets=[observe_sources, cleaned_layer, *VIEW_ASSETS, metabase_dashboards],
    jobs=[*TIER_JOBS.values(), *SOURCE_JOBS.values()],
    schedules=build_schedules(),
    sensors=[*build_sensors(), dashboards_automation_sensor],
    resources={"postgres": PostgresResource()},
    # Refreshes are SQL running in PostgreSQL: one process per run is enough, and it
    # keeps the latency from an order to its view low.
    executor=dg.in_process_executor,
)
