"""Run tags that more than one layer reads."""

TIER_TAG = "soleflip/tier"
# The tier whose runs also recount the sales from scratch (cleaned/recount.py).
FULL_RECOUNT_TIER = "daily"
# Set on every run a change sensor requests (automation/sensors.py).
SENSOR_TAG = "soleflip/sensor"
# On those runs: how many change statements they answer, and which sources changed.
CHANGES_TAG = "soleflip/changes"
SOURCES_TAG = "soleflip/sources"
# ... and the quiet window (s) their burst was judged over by.
QUIET_TAG = "soleflip/quiet_window"
# Set on every run that refreshes views (tier jobs, the source-change job, `views refresh`).
REFRESH_RUN_TAG = "soleflip/refresh"
REFRESH_RUN_TAGS = {REFRESH_RUN_TAG: "views"}
# Set on the refresh runs that go through the run queue (tier and source-change jobs):
# dagster.yaml's queue starts at most one run with this tag at a time.
QUEUE_TAG = "soleflip/queue"
QUEUED_REFRESH_TAGS = {**REFRESH_RUN_TAGS, QUEUE_TAG: "refresh"}
