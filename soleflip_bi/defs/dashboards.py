"""The Metabase dashboards, provisioned again when their templates change."""

import dagster as dg

from soleflip_bi.dashboards.assets import dashboards_automation_sensor, metabase_dashboards

defs = dg.Definitions(assets=[metabase_dashboards], sensors=[dashboards_automation_sensor])
