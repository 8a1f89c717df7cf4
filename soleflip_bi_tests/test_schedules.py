"""Schedule ticks in the shop's time zone, across both daylight-saving changes.

Tick times come from the same iterator the Dagster scheduler daemon uses.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import schedule_execution_time_iterator

from soleflip_bi.automation.schedules import build_schedules
from soleflip_bi.definitions import defs
from soleflip_bi.views.registry import Tier, views_in_tier

BERLIN = ZoneInfo("Europe/Berlin")
SPRING_FORWARD = date(2026, 3, 29)  # 02:00 -> 03:00
FALL_BACK = date(2026, 10, 25)  # 03:00 -> 02:00


def _schedule(tier: Tier) -> dg.ScheduleDefinition:
    return next(s for s in build_schedules() if s.name == f"refresh_{tier.value}_schedule")


def _ticks(tier: Tier, day: date, days: int = 1) -> list[datetime]:
    schedule = _schedule(tier)
    start = datetime.combine(day, datetime.min.time(), BERLIN)
    end = start + timedelta(days=days)
    ticks = []
    for tick in schedule_execution_time_iterator(
        start.timestamp(), schedule.cron_schedule, schedule.execution_timezone
    ):
        if tick.timestamp() >= end.timestamp():
            break
        ticks.append(tick)
    return ticks


def test_schedules_run_by_default_in_the_shop_time_zone() -> None:
    for schedule in build_schedules():
        assert schedule.execution_timezone == "Europe/Berlin"
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_time_zone_is_configurable(monkeypatch) -> None:
    monkeypatch.setenv("SOLEFLIP_TIMEZONE", "America/New_York")
    assert {s.execution_timezone for s in build_schedules()} == {"America/New_York"}


@pytest.mark.parametrize(("day", "hours"), [(SPRING_FORWARD, 23), (FALL_BACK, 25)])
def test_hourly_runs_every_real_hour_across_dst(day: date, hours: int) -> None:
    ticks = _ticks(Tier.HOURLY, day)
    assert len(ticks) == hours
    gaps = {b.astimezone(UTC) - a.astimezone(UTC) for a, b in pairwise(ticks)}
    assert gaps == {timedelta(hours=1)}
    assert all(t.minute == 0 for t in ticks)


def test_daily_runs_once_a_day_at_two_across_dst() -> None:
    ticks = _ticks(Tier.DAILY, SPRING_FORWARD - timedelta(days=1), days=3)
    assert [t.astimezone(BERLIN).date() for t in ticks] == [
        SPRING_FORWARD - timedelta(days=1),
        SPRING_FORWARD,
        SPRING_FORWARD + timedelta(days=1),
    ]
    local = [t.astimezone(BERLIN) for t in ticks]
    assert local[0].hour == 2 and local[2].hour == 2
    assert local[1].hour == 3  # 02:00 does not exist that day: the run follows at 03:00

    fall = [t.astimezone(BERLIN) for t in _ticks(Tier.DAILY, FALL_BACK, days=1)]
    assert len(fall) == 1 and fall[0].hour == 2  # 02:00 happens twice, the run once


def test_weekly_runs_monday_three_across_dst() -> None:
    ticks = [t.astimezone(BERLIN) for t in _ticks(Tier.WEEKLY, date(2026, 3, 23), days=14)]
    assert [(t.date(), t.hour, t.minute) for t in ticks] == [
        (date(2026, 3, 23), 3, 0),
        (date(2026, 3, 30), 3, 0),
    ]
    ticks = [t.astimezone(BERLIN) for t in _ticks(Tier.WEEKLY, date(2026, 10, 19), days=14)]
    assert [(t.date(), t.hour) for t in ticks] == [(date(2026, 10, 19), 3), (date(2026, 10, 26), 3)]


def test_tier_jobs_select_the_views_of_their_tier() -> None:
    for tier in Tier:
        job = defs.resolve_job_def(f"refresh_{tier.value}")
        selected = {key.path[-1] for key in job.asset_layer.selected_asset_keys}
        cleaned = {"order_facts", "stock_facts", "source_quality_issues"}
        assert selected == {v.name for v in views_in_tier(tier)} | cleaned


def test_schedule_tick_requests_its_tier_job(instance: dg.DagsterInstance) -> None:
    schedule = _schedule(Tier.DAILY)
    # A context manager: the schedule context registers the instance's state storage for
    # the current context, and must release it again.
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN),
    ) as context:
        data = schedule.evaluate_tick(context)
    [request] = data.run_requests
    assert schedule.job_name == "refresh_daily"
    assert request.job_name in (None, "refresh_daily")  # None: the schedule's own job
