"""The hourly, daily and weekly refresh schedules (what pg_cron used to do).

They fire in the shop's time zone (SOLEFLIP_TIMEZONE, default Europe/Berlin). Across a
daylight-saving change Dagster keeps local wall-clock times: the hourly job runs 23 or 25
times that day, and on the spring-forward day the 02:00 daily run happens at 03:00 local.
"""

from __future__ import annotations

import dagster as dg

from soleflip_bi.automation.jobs import TIER_JOBS
from soleflip_bi.shared import settings
from soleflip_bi.views.registry import Tier

CRON_BY_TIER: dict[Tier, str] = {
    Tier.HOURLY: "0 * * * *",
    Tier.DAILY: "0 2 * * *",
    Tier.WEEKLY: "0 3 * * 1",
}


def build_schedules() -> list[dg.ScheduleDefinition]:
    return [
        dg.ScheduleDefinition(
            name=f"refresh_{tier.value}_schedule",
            job=TIER_JOBS[tier],
            cron_schedule=CRON_BY_TIER[tier],
            execution_timezone=settings.shop_timezone(),
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description=f"Refresh the {tier.value} views ({CRON_BY_TIER[tier]}, shop time).",
        )
        for tier in Tier
    ]
