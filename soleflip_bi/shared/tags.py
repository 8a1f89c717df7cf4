"""Run tags that more than one layer reads."""

TIER_TAG = "soleflip/tier"
# The tier whose runs also recount the sales from scratch (cleaned/recount.py).
FULL_RECOUNT_TIER = "daily"
# Set on every run a change sensor requests (automation/sensors.py).
SENSOR_TAG = "soleflip/sensor"
# On those runs: how many change statements they answer, and which sources changed.
CHANGES_TAG = "soleflip/changes"
SOURCES_TAG = "soleflip/sources"
# Set on every run that refreshes views (tier jobs, the source-change job, `views refresh`):
# dagster.yaml's run queue starts at most one run with this tag at a time.
REFRESH_RUN_TAG = "soleflip/refresh"
REFRESH_RUN_TAGS = {REFRESH_RUN_TAG: "views"}
