"""A snapshot of the whole Dagster graph: a change to it shows as a diff in review.

Asset keys, deps, groups, kinds, tags, checks and automation; what each job selects; the
schedules and sensors. Code versions are left out (they follow every SQL edit).
Regenerate after an intended change: ``UPDATE_GRAPH_SNAPSHOT=1 make test``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from soleflip_bi.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def graph_description() -> dict:
    repository = defs.get_repository_def()
    graph = repository.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        condition = node.automation_condition
        assets[key.to_user_string()] = {
            "deps": sorted(d.to_user_string() for d in node.parent_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "tags": dict(sorted(node.tags.items())),
            "materializable": node.is_materializable,
            "checks": sorted(c.name for c in node.check_keys),
            "automation": condition.get_label() or type(condition).__name__ if condition else None,
            "freshness": bool(node.freshness_policy),
        }
    jobs = {
        job.name: sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)
        for job in sorted(repository.get_all_jobs(), key=lambda j: j.name)
        if not job.name.startswith("__")
    }
    schedules = {
        s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name}
        for s in sorted(repository.schedule_defs, key=lambda s: s.name)
    }
    sensors = {
        s.name: {
            "jobs": sorted(j.name for j in s.jobs) if s.has_jobs else [],
            "default_status": s.default_status.value,
        }
        for s in sorted(repository.sensor_defs, key=lambda s: s.name)
    }
    return {"assets": assets, "jobs": jobs, "schedules": schedules, "sensors": sensors}


def test_the_graph_equals_its_snapshot() -> None:
    current = json.dumps(graph_description(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GRAPH_SNAPSHOT") == "1":
        SNAPSHOT.write_text(current)
    assert current == SNAPSHOT.read_text(), (
        "the Dagster graph changed; review the diff and regenerate with "
        "UPDATE_GRAPH_SNAPSHOT=1 make test"
    )
