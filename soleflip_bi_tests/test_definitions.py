"""The code location loads, and its asset graph is what the UI should show."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg

from soleflip_bi.definitions import defs


def test_definitions_load_without_any_secret_set() -> None:
    """Loaded in a fresh interpreter with no SOLEFLIP_DATABASE_URL or DAGSTER_POSTGRES_URL,
    the code location offers every job, schedule and sensor."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SOLEFLIP_DATABASE_URL", "DAGSTER_POSTGRES_URL"}
    }
    script = (
        "from soleflip_bi.definitions import defs\n"
        "r = defs.get_repository_def()\n"
        "print(sorted(j.name for j in r.get_all_jobs() if not j.name.startswith('__')))\n"
        "print(sorted(s.name for s in [*r.schedule_defs, *r.sensor_defs]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [
        str(
            sorted(
                [
                    "refresh_daily",
                    "refresh_hourly",
                    "refresh_weekly",
                    "refresh_on_orders_change",
                    "refresh_on_inventory_change",
                ]
            )
        ),
        str(
            sorted(
                [
                    "refresh_daily_schedule",
                    "refresh_hourly_schedule",
                    "refresh_weekly_schedule",
                    "orders_changed_sensor",
                    "inventory_changed_sensor",
                    "dashboards_automation_sensor",
                ]
            )
        ),
    ]


def test_source_tables_are_external_assets() -> None:
    graph = defs.resolve_asset_graph()
    for key in (["sales", "order"], ["inventory", "stock"], ["catalog", "product"]):
        node = graph.get(dg.AssetKey(key))
        assert not node.is_materializable, key
        assert node.group_name == "sources"
