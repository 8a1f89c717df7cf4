"""alerts_sensor: one message per incident and one when it recovers, by webhook and by email.

A real instance; a real failing run (a small job added to the code location for the test),
a real failed error-severity check evaluation, a view whose last refresh is older than its
freshness policy allows; a local HTTP receiver and a local SMTP server get the messages.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteInstigatorOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    TickData,
    TickStatus,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster_shared.error import SerializableErrorInfo

from soleflip_bi.automation.alerts import alerts_sensor, evaluate
from soleflip_bi.automation.notify import AlertNotSent, Destinations
from soleflip_bi.definitions import defs
from soleflip_bi.views.assets import view_asset_key
from soleflip_bi_tests.support.receivers import smtp_receiver, webhook_receiver

CHECKED = dg.AssetKey(["analytics", "order_facts"])


@dg.op(config_schema={"fail": bool})
def shaky(context) -> None:  # unannotated: the annotation would be a string here
    if context.op_config["fail"]:
        raise RuntimeError("the shaky job failed on purpose")


shaky_job = dg.JobDefinition(graph_def=dg.GraphDefinition("shaky", node_defs=[shaky]))
REPOSITORY = dg.Definitions.merge(defs, dg.Definitions(jobs=[shaky_job])).get_repository_def()


def run_shaky(instance: dg.DagsterInstance, fail: bool) -> None:
    shaky_job.execute_in_process(
        instance=instance, run_config={"ops": {"shaky": {"config": {"fail": fail}}}},
        raise_on_error=False,
    )  # fmt: skip


def check_evaluation(instance: dg.DagsterInstance, passed: bool) -> None:
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=CHECKED,
            check_name="orders_accounted_for",
            passed=passed,
            severity=dg.AssetCheckSeverity.ERROR,
        )
    )


@pytest.fixture
def destinations() -> Iterator[tuple[Destinations, list[int], list[dict], list]]:
    status = [200]
    with webhook_receiver(status) as (url, posts), smtp_receiver() as (port, mails):
        yield (
            Destinations(url, "127.0.0.1", port, None, None, ("ops@example.com",),
                         "soleflip-bi@example.com"),
            status, posts, mails,
        )  # fmt: skip


def tick(instance: dg.DagsterInstance, cursor: str | None, destinations, now: float):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=REPOSITORY)
    message = evaluate(context, destinations, now).skip_message
    return context.cursor, message


def test_one_message_per_incident_and_one_when_it_recovers(instance, destinations) -> None:
    targets, _status, posts, mails = destinations
    run_shaky(instance, fail=True)
    check_evaluation(instance, passed=False)

    cursor, said = tick(instance, None, targets, time.time())

    assert said == "sent 2 incident(s) and 0 recovery(ies)"
    texts = sorted(p["text"] for p in posts)
    assert texts[0].startswith("*soleflip-bi: check analytics/order_facts orders_accounted_for "
                               "failed (severity error)*")  # fmt: skip
    assert texts[1].startswith("*soleflip-bi: the latest run of job shaky failed (run ")
    unfolded = sorted(" ".join(m["Subject"].split()) for m in mails)  # long headers fold
    assert unfolded == sorted(t.split("*")[1] for t in texts)
    assert all(m["To"] == "ops@example.com" for m in mails)

    run_shaky(instance, fail=True)  # fails again: the same incident, no new message
    cursor, said = tick(instance, cursor, targets, time.time())
    assert said == "2 incident(s) open, nothing new" and len(posts) == 2 and len(mails) == 2

    run_shaky(instance, fail=False)
    check_evaluation(instance, passed=True)
    cursor, said = tick(instance, cursor, targets, time.time())
    assert said == "sent 0 incident(s) and 2 recovery(ies)"
    assert sorted(p["text"].split("*")[1] for p in posts[2:]) == [
        "soleflip-bi: recovered: check analytics/order_facts orders_accounted_for failed "
        "(severity error)",
        texts[1].split("*")[1].replace("soleflip-bi: ", "soleflip-bi: recovered: "),
    ]
    assert len(mails) == 4
    cursor, said = tick(instance, cursor, targets, time.time())
    assert said == "0 incident(s) open, nothing new" and len(posts) == 4


def test_a_view_past_its_freshness_window_is_one_incident(instance, destinations) -> None:
    targets, _status, posts, _mails = destinations
    key = view_asset_key("metabase_executive_metrics")  # hourly: fails after 2 h
    instance.report_runless_asset_event(dg.AssetMaterialization(key))
    cursor, said = tick(instance, None, targets, time.time() + 3600)
    assert said == "0 incident(s) open, nothing new"
    cursor, said = tick(instance, cursor, targets, time.time() + 3 * 3600)
    assert said == "sent 1 incident(s) and 0 recovery(ies)"
    [post] = posts
    assert post["text"].startswith(
        "*soleflip-bi: analytics/metabase_executive_metrics was last refreshed 3.0 h ago "
        "(its hourly freshness policy fails after 2 h)*"
    )


def test_a_destination_that_fails_gets_the_messages_on_the_next_tick(
    instance, destinations
) -> None:
    targets, status, posts, _mails = destinations
    run_shaky(instance, fail=True)
    status[0] = 500
    with pytest.raises(AlertNotSent, match="the alert webhook answered HTTP 500"):
        tick(instance, None, targets, time.time())
    status[0] = 200
    _cursor, said = tick(instance, None, targets, time.time())  # the cursor did not move
    assert said == "sent 1 incident(s) and 0 recovery(ies)" and len(posts) == 1


def test_without_a_destination_the_sensor_says_how_to_set_one(
    instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SOLEFLIP_ALERT_WEBHOOK_URL", "SOLEFLIP_ALERT_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    context = dg.build_sensor_context(instance=instance, repository_def=REPOSITORY)
    assert alerts_sensor.evaluate_tick(context).skip_message == (
        "no alert destination: set SOLEFLIP_ALERT_WEBHOOK_URL or SOLEFLIP_ALERT_SMTP_HOST and "
        "SOLEFLIP_ALERT_EMAIL_TO"
    )


def _sensor_state(instance: dg.DagsterInstance, name: str) -> InstigatorState:
    """The instigator state the daemon keeps for a sensor of this code location."""
    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="soleflip_bi.definitions", attribute="defs"),
        location_name="soleflip_bi",
    )
    origin = RemoteInstigatorOrigin(RemoteRepositoryOrigin(location, "__repository__"), name)
    state = InstigatorState(origin, InstigatorType.SENSOR, InstigatorStatus.RUNNING)
    instance.add_instigator_state(state)
    return state


def _tick(instance: dg.DagsterInstance, state: InstigatorState, status: TickStatus) -> None:
    error = SerializableErrorInfo("cannot reach the shop database\n", [], "OperationalError")
    instance.create_tick(
        TickData(
            instigator_origin_id=state.instigator_origin_id,
            instigator_name=state.instigator_name,
            instigator_type=InstigatorType.SENSOR,
            status=status,
            timestamp=time.time(),
            selector_id=state.selector_id,
            error=error if status is TickStatus.FAILURE else None,
        )
    )


def test_a_sensor_failing_its_ticks_is_one_incident_until_it_ticks_again(
    instance, destinations
) -> None:
    targets, _status, posts, _mails = destinations
    state = _sensor_state(instance, "source_changes_sensor")
    _tick(instance, state, TickStatus.FAILURE)
    cursor, said = tick(instance, None, targets, time.time())
    assert said == "sent 1 incident(s) and 0 recovery(ies)"
    assert posts[0]["text"].startswith(
        "*soleflip-bi: sensor source_changes_sensor fails its ticks: cannot reach the shop "
        "database*"
    )
    _tick(instance, state, TickStatus.FAILURE)
    cursor, said = tick(instance, cursor, targets, time.time())
    assert said == "1 incident(s) open, nothing new"
    _tick(instance, state, TickStatus.SKIPPED)
    cursor, said = tick(instance, cursor, targets, time.time())
    assert said == "sent 0 incident(s) and 1 recovery(ies)"
    assert posts[1]["text"].startswith("*soleflip-bi: recovered: sensor source_changes_sensor")
