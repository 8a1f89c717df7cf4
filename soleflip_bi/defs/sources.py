"""The shop's source tables, observed (never written)."""

import dagster as dg

from soleflip_bi.sources.observe import observe_sources

defs = dg.Definitions(assets=[observe_sources])
