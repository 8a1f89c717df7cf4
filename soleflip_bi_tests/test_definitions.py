"""The code location loads, and its asset graph is what the UI should show."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dagster as dg

from soleflip_bi.definitions import defs
from soleflip_bi.shared import settings

SECRETS = ("SOLEFLIP_", "DAGSTER_POSTGRES_", "METABASE_")

# What the Dagster UI lists for this code location.
JOBS = [
    "refresh_daily",
    "refresh_hourly",
    "refresh_on_source_change",
    "refresh_weekly",
]
SCHEDULES = ["refresh_daily_schedule", "refresh_hourly_schedule", "refresh_weekly_schedule"]
SENSORS = [
    "alerts_sensor",
    "dashboards_automation_sensor",
    "dead_refresh_runs",
    "metabase_cache_sensor",
    "metabase_data_model_sensor",
    "metabase_questions_sensor",
    "source_changes_sensor",
]


def test_definitions_load_without_any_secret_set() -> None:
    """Loaded in a fresh interpreter whose environment never held a database URL, a
    Dagster storage URL or a Metabase credential, the code location offers every job,
    schedule and sensor (nothing connects or reads a secret at import time)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SECRETS)}
    script = (
        "import json, os, sys\n"
        f"leaked = [k for k in os.environ if k.startswith({SECRETS!r})]\n"
        "assert not leaked, leaked\n"
        "assert 'soleflip_bi' not in sys.modules\n"
        "from soleflip_bi.definitions import defs\n"
        "r = defs.get_repository_def()\n"
        "print(json.dumps({\n"
        "    'jobs': sorted(j.name for j in r.get_all_jobs() if not j.name.startswith('__')),\n"
        "    'schedules': sorted(s.name for s in r.schedule_defs),\n"
        "    'sensors': sorted(s.name for s in r.sensor_defs),\n"
        "    'schedule_jobs': {s.name: s.job_name for s in r.schedule_defs},\n"
        "}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=settings.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == {
        "jobs": JOBS,
        "schedules": SCHEDULES,
        "sensors": SENSORS,
        "schedule_jobs": {
            "refresh_daily_schedule": "refresh_daily",
            "refresh_hourly_schedule": "refresh_hourly",
            "refresh_weekly_schedule": "refresh_weekly",
        },
    }


def test_source_tables_are_external_assets() -> None:
    graph = defs.resolve_asset_graph()
    for key in (["sales", "order"], ["inventory", "stock"], ["catalog", "product"]):
        node = graph.get(dg.AssetKey(key))
        assert not node.is_materializable, key
        assert node.group_name == "sources"
