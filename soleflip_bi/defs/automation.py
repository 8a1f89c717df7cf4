"""What replaces pg_cron and the sync endpoints: tier jobs on schedules, source sensors, and
alerts when any of it breaks."""

import dagster as dg

from soleflip_bi.automation.alerts import alerts_sensor
from soleflip_bi.automation.dead_runs import dead_refresh_runs
from soleflip_bi.automation.jobs import SOURCE_JOB, TIER_JOBS
from soleflip_bi.automation.schedules import build_schedules
from soleflip_bi.automation.sensors import build_sensors

defs = dg.Definitions(
    jobs=[*TIER_JOBS.values(), SOURCE_JOB],
    schedules=build_schedules(),
    sensors=[*build_sensors(), alerts_sensor, dead_refresh_runs],
)
