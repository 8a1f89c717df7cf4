"""The schemas the project owns in the shop database."""

from __future__ import annotations

# The materialized views Metabase reads, and the cleaned layer beneath them.
ANALYTICS_SCHEMA = "analytics"
# Change log, refresh baselines and the recount: read by nobody but the project.
BOOKKEEPING_SCHEMA = "soleflip_bi"
