"""The Metabase dashboards, provisioned again when their templates change, and their cached
results dropped when the views they read refresh; Metabase's data model of the views,
written with the dashboards after a build changed a view's columns or descriptions."""

import dagster as dg

from soleflip_bi.dashboards.assets import dashboards_automation_sensor, metabase_dashboards
from soleflip_bi.dashboards.cache_sensor import metabase_cache_sensor
from soleflip_bi.dashboards.data_model import metabase_data_model, metabase_data_model_sensor

defs = dg.Definitions(
    assets=[metabase_dashboards, metabase_data_model],
    sensors=[dashboards_automation_sensor, metabase_cache_sensor, metabase_data_model_sensor],
)
