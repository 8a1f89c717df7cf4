"""deploy/helm/values.yaml is valid for Dagster's Helm chart and says what dagster.yaml says.

Helm validates the chart's values.yaml with the user's file merged onto it (maps merge,
lists and scalars replace) against values.schema.json; this does the same offline with the
chart's files in ``contract/helm/`` (SOURCE.txt: from which commit). No cluster is started.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from soleflip_bi.shared import settings

CHART = Path(__file__).parent / "contract" / "helm"
VALUES = settings.PROJECT_ROOT / "deploy" / "helm" / "values.yaml"


def _external_refs(node: Any, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("http"):
            found.add(ref)
        for value in node.values():
            _external_refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _external_refs(value, found)
    return found


def _validator() -> Draft202012Validator:
    """The chart's schema; its Kubernetes definitions (external URLs) accept anything."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    documents: dict[str, dict] = {}
    for ref in _external_refs(schema, set()):
        url, _, fragment = ref.partition("#")
        node = documents.setdefault(url, {})
        for part in filter(None, fragment.split("/")):
            node = node.setdefault(part, {})
    registry = Registry().with_resources(
        (url, Resource(contents=doc, specification=DRAFT202012)) for url, doc in documents.items()
    )
    return Draft202012Validator(schema, registry=registry)


def _coalesce(base: Any, override: Any) -> Any:
    """Helm's merge of a values file onto the chart's defaults."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _coalesce(merged.get(key), value)
    return merged


def _merged(values: dict) -> dict:
    return _coalesce(yaml.safe_load((CHART / "values.yaml").read_text()), values)


def _errors(values: dict) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:120]}"
        for e in _validator().iter_errors(_merged(values))
    ]


def _ours() -> dict:
    return yaml.safe_load(VALUES.read_text())


def test_the_values_file_is_valid_for_the_chart() -> None:
    assert _errors(_ours()) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("runLauncher", "config", "k8sRunLauncher", "jobNamespce"), "typo"),
        (("runLauncher", "type"), "K8sLauncher"),
        (("concurrency", "runs", "maxRuns"), 4),
    ],
)
def test_a_mistake_in_it_is_refused(path: tuple[str, ...], value: object) -> None:
    values = _ours()
    node = values
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert _errors(values) != []


def test_it_runs_this_location_with_the_instance_settings_of_dagster_yaml() -> None:
    values = _ours()
    instance = yaml.safe_load((settings.PROJECT_ROOT / "dagster.yaml").read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    args = deployment["codeServerArgs"]
    assert args[args.index("--module-name") + 1] == "soleflip_bi.definitions"
    assert args[args.index("--location-name") + 1] == "soleflip_bi"
    assert values["postgresql"]["enabled"] is False
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    coordinator = values["dagsterDaemon"]["runCoordinator"]["config"]["customRunCoordinator"]
    assert (coordinator["module"], coordinator["class"], coordinator["config"]) == (
        instance["run_coordinator"]["module"],
        instance["run_coordinator"]["class"],
        instance["run_coordinator"]["config"],
    )
    concurrency = values["concurrency"]
    assert concurrency["enabled"] is True
    runs = instance["concurrency"]["runs"]
    assert concurrency["runs"]["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert concurrency["runs"]["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]
    pools = instance["concurrency"]["pools"]
    assert concurrency["pools"] == {
        "defaultLimit": pools["default_limit"],
        "granularity": pools["granularity"],
    }
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    for key, value in instance["run_monitoring"].items():
        camel = key.split("_")[0] + "".join(w.title() for w in key.split("_")[1:])
        assert monitoring[camel] == value, key
    sensor_retention = values["retention"]["sensor"]["purgeAfterDays"]
    for kind, days in instance["retention"]["sensor"]["purge_after_days"].items():
        assert sensor_retention[kind] == days


def test_deploy_dagster_yaml_is_the_instance_file() -> None:
    deploy = yaml.safe_load((settings.PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    assert deploy == yaml.safe_load((settings.PROJECT_ROOT / "dagster.yaml").read_text())


# Every setting of dagster.yaml, by its path: where the chart takes it, or why it does not.
CHART_KEY = {
    "storage.custom.module": None,
    "storage.custom.class": None,
    "storage.custom.config.postgres_url_variable": None,
    "run_launcher.module": None,
    "run_launcher.class": None,
    "run_coordinator.module": "dagsterDaemon.runCoordinator.config.customRunCoordinator.module",
    "run_coordinator.class": "dagsterDaemon.runCoordinator.config.customRunCoordinator.class",
    **{
        f"run_coordinator.config.{key}": (
            f"dagsterDaemon.runCoordinator.config.customRunCoordinator.config.{key}"
        )
        for key in (
            "dequeue_interval_seconds",
            "max_user_code_failure_retries",
            "user_code_failure_retry_delay",
        )
    },
    "concurrency.runs.max_concurrent_runs": "concurrency.runs.maxConcurrentRuns",
    "concurrency.runs.tag_concurrency_limits": "concurrency.runs.tagConcurrencyLimits",
    "concurrency.pools.granularity": "concurrency.pools.granularity",
    "concurrency.pools.default_limit": "concurrency.pools.defaultLimit",
    "run_monitoring.enabled": "dagsterDaemon.runMonitoring.enabled",
    "run_monitoring.start_timeout_seconds": "dagsterDaemon.runMonitoring.startTimeoutSeconds",
    "run_monitoring.cancel_timeout_seconds": "dagsterDaemon.runMonitoring.cancelTimeoutSeconds",
    "run_monitoring.max_runtime_seconds": "dagsterDaemon.runMonitoring.maxRuntimeSeconds",
    "run_monitoring.poll_interval_seconds": "dagsterDaemon.runMonitoring.pollIntervalSeconds",
    "run_retries.enabled": "dagsterDaemon.runRetries.enabled",
    "run_retries.max_retries": "dagsterDaemon.runRetries.maxRetries",
    "sensors.use_threads": "dagsterDaemon.sensors.useThreads",
    "sensors.num_workers": "dagsterDaemon.sensors.numWorkers",
    "schedules.use_threads": "dagsterDaemon.schedules.useThreads",
    "schedules.num_workers": "dagsterDaemon.schedules.numWorkers",
    "telemetry.enabled": "telemetry.enabled",
    "retention.schedule.purge_after_days": "retention.schedule.purgeAfterDays",
    **{
        f"retention.sensor.purge_after_days.{kind}": f"retention.sensor.purgeAfterDays.{kind}"
        for kind in ("skipped", "success", "failure")
    },
}
# Why a setting has no key of its own in the chart.
NOT_APPLICABLE = {
    "storage": "the chart writes PostgreSQL storage itself from `postgresql.*` and its "
    "secret; ShopStorage only chooses the embedded server when no URL is set",
    "run_launcher": "on Kubernetes each run is a pod: runLauncher.type is K8sRunLauncher",
}


def _leaves(node: Any, path: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {path: node}
    found: dict[str, Any] = {}
    for key, value in node.items():
        found.update(_leaves(value, f"{path}.{key}" if path else key))
    return found


def _at(values: dict, path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        assert isinstance(node, dict) and part in node, f"the chart's values lack {path}"
        node = node[part]
    return node


def test_every_setting_of_dagster_yaml_is_mapped_to_the_chart_or_said_not_to_apply() -> None:
    instance = _leaves(yaml.safe_load((settings.PROJECT_ROOT / "dagster.yaml").read_text()))
    assert set(instance) == set(CHART_KEY), "a dagster.yaml setting the chart mapping lacks"
    values = _ours()
    for path, value in instance.items():
        chart = CHART_KEY[path]
        if chart is None:
            assert path.split(".")[0] in NOT_APPLICABLE, path
        else:
            assert _at(values, chart) == value, path
    assert values["postgresql"]["enabled"] is False and values["postgresql"]["postgresqlHost"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
