"""Alerts without Dagster+: one message when something breaks, one when it recovers.

``alerts_sensor`` looks, every minute, at what is wrong now:

- a job whose latest finished run failed (``run:<job>``);
- an error-severity check whose latest evaluation failed (``check:<asset>:<check>``);
- a view not refreshed within its freshness policy's fail window (``stale:<asset>``), once it
  has been built at all;
- a sensor or schedule whose latest tick failed (``tick:<name>``), this one excepted.

Each of those is an incident. The sensor's cursor holds the incidents open at its last
tick: an incident that appears is sent once, with what it is and where to look, and one
that disappears is sent once as recovered. A failing destination fails the tick and keeps
the cursor, so the same messages are tried again on the next tick and none is lost.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import dagster as dg
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

from soleflip_bi.automation.notify import Destinations, send
from soleflip_bi.views.assets import FRESHNESS_BY_TIER, view_asset_key
from soleflip_bi.views.registry import VIEWS

ALERTS_SENSOR = "alerts_sensor"
ALERTS_INTERVAL_SECONDS = 60


@dataclass(frozen=True)
class Incident:
    key: str
    text: str


def current_incidents(
    instance: dg.DagsterInstance, repository: dg.RepositoryDefinition, now: float
) -> dict[str, Incident]:
    """Everything wrong at ``now``, by incident key."""
    found = [
        *_failed_runs(instance, repository),
        *_failed_checks(instance, repository),
        *_stale_views(instance, now),
        *_failing_ticks(instance),
    ]
    return {incident.key: incident for incident in found}


def _failed_runs(instance: dg.DagsterInstance, repository: dg.RepositoryDefinition):
    finished = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE]
    for job in sorted(n for n in repository.job_names if not n.startswith("__")):
        runs = instance.get_runs(RunsFilter(job_name=job, statuses=finished), limit=1)
        if runs and runs[0].status is DagsterRunStatus.FAILURE:
            yield Incident(
                f"run:{job}", f"the latest run of job {job} failed (run {runs[0].run_id})"
            )


def _failed_checks(instance: dg.DagsterInstance, repository: dg.RepositoryDefinition):
    graph = repository.asset_graph
    for check_key in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string()):
        record = instance.get_latest_asset_check_evaluation_record(check_key)
        event = record.event if record else None
        evaluation = (
            event.dagster_event.event_specific_data if event and event.dagster_event else None
        )
        if (
            isinstance(evaluation, dg.AssetCheckEvaluation)
            and not evaluation.passed
            and evaluation.severity is dg.AssetCheckSeverity.ERROR
        ):
            name = f"{check_key.asset_key.to_user_string()} {check_key.name}"
            yield Incident(f"check:{name}", f"check {name} failed (severity error)")


def _stale_views(instance: dg.DagsterInstance, now: float):
    for spec in VIEWS:
        key = view_asset_key(spec.name)
        event = instance.get_latest_materialization_event(key)
        if event is None:
            continue  # never built: nothing has gone stale yet
        window = FRESHNESS_BY_TIER[spec.tier].fail_window.to_timedelta().total_seconds()
        age = now - event.timestamp
        if age > window:
            yield Incident(
                f"stale:{key.to_user_string()}",
                f"{key.to_user_string()} was last refreshed {age / 3600:.1f} h ago "
                f"(its {spec.tier.value} freshness policy fails after {window / 3600:.0f} h)",
            )


def _failing_ticks(instance: dg.DagsterInstance):
    for kind in (InstigatorType.SENSOR, InstigatorType.SCHEDULE):
        for state in instance.all_instigator_state(instigator_type=kind):
            if state.instigator_name == ALERTS_SENSOR:
                continue
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
            if ticks and ticks[0].status is TickStatus.FAILURE:
                error = ticks[0].error.message.strip().splitlines()[0] if ticks[0].error else ""
                yield Incident(
                    f"tick:{state.instigator_name}",
                    f"{kind.value.lower()} {state.instigator_name} fails its ticks: {error}",
                )


def evaluate(
    context: dg.SensorEvaluationContext, destinations: Destinations, now: float
) -> dg.SkipReason:
    """Send what opened and what recovered since the last tick; keep the rest quiet."""
    was_open: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    repository = context.repository_def
    assert repository is not None  # a sensor always runs in its code location
    incidents = current_incidents(context.instance, repository, now)
    opened = [incidents[k] for k in sorted(incidents) if k not in was_open]
    recovered = [k for k in sorted(was_open) if k not in incidents]
    for incident in opened:
        send(destinations, f"soleflip-bi: {incident.text}", _body(incident.text, context))
    for key in recovered:
        text = f"recovered: {was_open[key]}"
        send(destinations, f"soleflip-bi: {text}", _body(text, context))
    # An incident keeps the words it was first sent with: its recovery names the same thing.
    still = {k: was_open.get(k, incidents[k].text) for k in sorted(incidents)}
    context.update_cursor(json.dumps(still))
    if opened or recovered:
        summary = f"sent {len(opened)} incident(s) and {len(recovered)} recovery(ies)"
        context.log.info(summary)
        return dg.SkipReason(summary)
    return dg.SkipReason(f"{len(incidents)} incident(s) open, nothing new")


def _body(text: str, context: dg.SensorEvaluationContext) -> str:
    where = context.repository_name or "soleflip_bi"
    return f"{text}\n\nSee the Dagster UI of the {where} code location for details."


@dg.sensor(
    name=ALERTS_SENSOR,
    minimum_interval_seconds=ALERTS_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends one message per incident (failed run, failed error-severity check, "
    "stale view, failing sensor or schedule) and one when it recovers, to "
    "SOLEFLIP_ALERT_WEBHOOK_URL and/or by SMTP.",
)
def alerts_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    destinations = Destinations.from_env()
    if not destinations.configured:
        return dg.SkipReason(
            "no alert destination: set SOLEFLIP_ALERT_WEBHOOK_URL or SOLEFLIP_ALERT_SMTP_HOST "
            "and SOLEFLIP_ALERT_EMAIL_TO"
        )
    return evaluate(context, destinations, time.time())
