"""Run tags that more than one layer reads."""

TIER_TAG = "soleflip/tier"
# The tier whose runs also recount the sales from scratch (cleaned/recount.py).
FULL_RECOUNT_TIER = "daily"
# Set on every run a change sensor requests (automation/sensors.py).
SENSOR_TAG = "soleflip/sensor"
