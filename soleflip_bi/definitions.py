"""The Dagster code location: everything below is generated from the catalogues."""

from __future__ import annotations

import dagster as dg

from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.sources.assets import build_source_assets

defs = dg.Definitions(
    assets=[*build_source_assets()],
    resources={"postgres": PostgresResource()},
)
