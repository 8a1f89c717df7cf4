"""The sensor that fails refresh runs whose processes died, so that none holds the refresh
slot for ever (``database/run_order.py`` says how a dead run is told from a live one).

Dagster's own run monitoring cannot see such a run: ``DefaultRunLauncher`` does not check a
run worker's health (``supports_check_run_worker_health`` is False, so
``dagster/_daemon/monitoring/run_monitoring.py`` only applies the start, cancel and
maximum-runtime timeouts). The maximum runtime (``dagster.yaml``) stays as the last
resort; this sensor fails a dead run within two minutes, and Dagster's run retries
(``run_retries``) then start it again.
"""

from __future__ import annotations

import dagster as dg

from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.database.run_order import SWEEP_SECONDS, fail_dead_runs

DEAD_RUNS_SENSOR = "dead_refresh_runs"


@dg.sensor(
    name=DEAD_RUNS_SENSOR,
    minimum_interval_seconds=int(SWEEP_SECONDS),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed every refresh run whose processes are gone (killed worker or "
    "code server, restarted host), so the next refresh run can start.",
)
def dead_refresh_runs(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> dg.SkipReason:
    with postgres.connect(autocommit=True) as conn:
        failed = fail_dead_runs(context.instance, conn)
    if failed:
        return dg.SkipReason(f"marked failed, their processes being gone: {', '.join(failed)}")
    return dg.SkipReason("every refresh run in progress has a live process")
