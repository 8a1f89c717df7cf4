"""The materialized views Metabase reads, one asset per registry entry, with their checks."""

import dagster as dg

from soleflip_bi.views.assets import VIEW_ASSETS

defs = dg.Definitions(assets=VIEW_ASSETS)
