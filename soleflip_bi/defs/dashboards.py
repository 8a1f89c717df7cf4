"""The Metabase dashboards, provisioned again when their templates change, and their cached
results dropped when the views they read refresh."""

import dagster as dg

from soleflip_bi.dashboards.assets import dashboards_automation_sensor, metabase_dashboards
from soleflip_bi.dashboards.cache_sensor import metabase_cache_sensor

defs = dg.Definitions(
    assets=[metabase_dashboards], sensors=[dashboards_automation_sensor, metabase_cache_sensor]
)
