"""The whole deployment: dagster-webserver + dagster-daemon against the embedded database.

Storage is PostgreSQL through dagster-postgres (the project's dagster.yaml, a temporary
DAGSTER_HOME), so this is the production configuration, not an in-memory instance.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import requests
from dagster_graphql import DagsterGraphQLClient

from soleflip_bi.cli.dagster_runs import refresh_everything
from soleflip_bi.shared import settings
from soleflip_bi_tests.support.orders import add_sale_orders, insert_sale_orders, orders_in_view
from soleflip_bi_tests.support.processes import start_group, stop_group
from soleflip_bi_tests.support.shop import stock_shop

BIN = Path(sys.executable).parent
SENSOR_CURSOR_QUERY = """
query {
  sensorOrError(sensorSelector: {repositoryName: "__repository__",
      repositoryLocationName: "soleflip_bi", sensorName: "source_changes_sensor"}) {
    ... on Sensor { sensorState { status typeSpecificData { ... on SensorData { lastCursor } } } }
  }
}
"""


@dataclass
class Deployment:
    url: str
    port: int
    env: dict[str, str]
    logs: Path
    daemon: subprocess.Popen | None = None

    def start_daemon(self) -> None:
        """The daemon in a process group of its own, with the code server it starts."""
        self.daemon = start_group(
            [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=settings.PROJECT_ROOT,
            env=self.env,
            stdout=(self.logs / "daemon.log").open("a"),
            stderr=subprocess.STDOUT,
        )

    def stop_daemon(self) -> None:
        if self.daemon is not None:  # a set-up that failed before the start
            stop_group(self.daemon)
            self.daemon = None

    def graphql(self, query: str) -> dict:
        response = requests.post(
            f"http://127.0.0.1:{self.port}/graphql", json={"query": query}, timeout=30
        )
        response.raise_for_status()
        return response.json()["data"]

    def sensor_cursor(self) -> str | None:
        state = self.graphql(SENSOR_CURSOR_QUERY)["sensorOrError"]["sensorState"]
        return state["typeSpecificData"]["lastCursor"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _deploy(url: str, home: Path) -> Iterator[Deployment]:
    """dagster-webserver and dagster-daemon on the project's workspace, against ``url``."""
    env = {**os.environ, "SOLEFLIP_DATABASE_URL": url}
    port = _free_port()
    # Create Dagster's tables first: a webserver and a daemon starting together on an empty
    # storage database both try, and the loser dies ("type jobs already exists").
    with dg.DagsterInstance.get():
        pass
    webserver = start_group(
        [
            str(BIN / "dagster-webserver"),
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=settings.PROJECT_ROOT,
        env=env,
        stdout=(home / "webserver.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    deployment = Deployment(url, port, env, home)
    try:
        deployment.start_daemon()
        _wait_for(lambda: _answers(port), 120, "the webserver")
        yield deployment
    finally:
        # Each process group whole: the servers and the code servers they started.
        for process in (webserver, deployment.daemon):
            if process is not None:
                stop_group(process)
        for log in ("daemon.log", "webserver.log"):  # shown by pytest when a test failed
            lines = (home / log).read_text(errors="replace").splitlines()
            print(f"--- last lines of {log} ---", *lines[-40:], sep="\n")


@pytest.fixture
def deployment(scratch_database_url: str, dagster_home: Path) -> Iterator[Deployment]:
    stock_shop(scratch_database_url)
    yield from _deploy(scratch_database_url, dagster_home)


@pytest.fixture
def demo_deployment(
    scratch_database_url: str, dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    """As `soleflip-bi demo` leaves it: everything built through Dagster, then the UI."""
    stock_shop(scratch_database_url, views=False)
    monkeypatch.setenv("SOLEFLIP_DATABASE_URL", scratch_database_url)
    monkeypatch.setenv("SOLEFLIP_EXPORT_DIR", str(dagster_home / "exports"))
    refresh_everything()
    yield from _deploy(scratch_database_url, dagster_home)


def _answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok
    except requests.RequestException:
        return False


def _sensor_runs_finished(deployment: Deployment) -> bool:
    runs = deployment.graphql(SENSOR_RUNS_QUERY)["runsOrError"]["results"]
    return bool(runs) and all(r["status"] in {"SUCCESS", "FAILURE", "CANCELED"} for r in runs)


def _orders_in_view(url: str) -> int:
    return orders_in_view(url, "metabase_executive_metrics")


def _insert_order(url: str) -> float:
    """Commit one sale; return when (monotonic clock) it was committed."""
    add_sale_orders(url, 1, gross=250)
    return time.monotonic()


def test_orders_reach_the_views_with_no_other_action(deployment: Deployment, capsys) -> None:
    # The first tick begins after the build; wait until the sensor holds a cursor.
    _wait_for(deployment.sensor_cursor, 120, "the sensor's first tick")
    before = _orders_in_view(deployment.url)

    committed = _insert_order(deployment.url)
    _wait_for(lambda: _orders_in_view(deployment.url) == before + 1, 180, "the new order")
    latency = time.monotonic() - committed

    # The cursor lives in Dagster's storage: a daemon restart loses no change. The restart
    # comes between runs (stopping the daemon's process group would also stop a run
    # its code server is executing, which is the fault tests' subject, not this one's).
    _wait_for(lambda: _sensor_runs_finished(deployment), 180, "the sensor's run to finish")
    cursor = deployment.sensor_cursor()
    deployment.stop_daemon()
    _insert_order(deployment.url)
    deployment.start_daemon()
    _wait_for(lambda: _orders_in_view(deployment.url) == before + 2, 180, "the order after restart")
    assert deployment.sensor_cursor() != cursor

    with capsys.disabled():
        print(f"\norder committed -> visible in metabase_executive_metrics: {latency:.1f} s")


def test_refresh_daily_through_the_graphql_client(deployment: Deployment) -> None:
    client = DagsterGraphQLClient("127.0.0.1", port_number=deployment.port)
    run_id = client.submit_job_execution(
        "refresh_daily", repository_location_name="soleflip_bi", repository_name="__repository__"
    )
    status = _wait_for(
        lambda: (
            (s := client.get_run_status(run_id).value) in {"SUCCESS", "FAILURE", "CANCELED"} and s
        ),
        300,
        "refresh_daily to finish",
        interval=1,
    )
    assert status == "SUCCESS"


ASSET_STATE_QUERY = """
query {
  assetNodes {
    assetKey { path }
    isMaterializable
    assetMaterializations(limit: 1) { runId }
    assetObservations(limit: 1) {
      runId
      metadataEntries { label ... on IntMetadataEntry { intValue } }
    }
    assetChecksOrError {
      ... on AssetChecks {
        checks { name executionForLatestMaterialization { runId status } }
      }
    }
  }
}
"""
SENSOR_RUNS_QUERY = """
query {
  runsOrError(filter: {tags: [{key: "soleflip/sensor", value: "source_changes_sensor"}]}) {
    ... on Runs { results { runId status } }
  }
}
"""


def test_after_the_demo_and_a_sensor_run_nothing_is_unmaterialized_or_unevaluated(
    demo_deployment: Deployment,
) -> None:
    """What the UI shows: every asset materialized (sources observed), every check of every
    asset evaluated by the build or by the sensor's run; the sensor started no run for
    the demo's own load."""
    deployment = demo_deployment
    _wait_for(deployment.sensor_cursor, 120, "the sensor's first tick")
    assert deployment.graphql(SENSOR_RUNS_QUERY)["runsOrError"]["results"] == []

    _insert_order(deployment.url)

    def sensor_run_finished() -> list[dict]:
        runs = deployment.graphql(SENSOR_RUNS_QUERY)["runsOrError"]["results"]
        return [r for r in runs if r["status"] in {"SUCCESS", "FAILURE", "CANCELED"}]

    [run] = _wait_for(sensor_run_finished, 180, "the sensor's run")
    assert run["status"] == "SUCCESS"

    nodes = deployment.graphql(ASSET_STATE_QUERY)["assetNodes"]
    never = [
        "/".join(n["assetKey"]["path"])
        for n in nodes
        if not (n["assetMaterializations"] if n["isMaterializable"] else n["assetObservations"])
    ]
    unevaluated = [
        f"{'/'.join(n['assetKey']['path'])}:{check['name']}"
        for n in nodes
        for check in n["assetChecksOrError"].get("checks", [])
        if (check["executionForLatestMaterialization"] or {}).get("status")
        not in {"SUCCEEDED", "FAILED"}
    ]
    assert len(nodes) == 8 + 3 + 11 + 2  # sources, cleaned layer, views, dashboards, data model
    assert never == []
    assert unevaluated == []
    # The sensor's run refreshed the order views and the cleaned layer; its source is observed.
    latest = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    for key in ("analytics/order_facts", "analytics/metabase_executive_metrics"):
        assert latest[key]["assetMaterializations"][0]["runId"] == run["runId"]
    observed = latest["sales/order"]["assetObservations"][0]["metadataEntries"]
    assert {"label": "insert_statements", "intValue": 1} in observed


def _trigger(run: dict) -> str:
    """What started a run (sensor, schedule, command line, or the UI) and its id."""
    tags = {t["key"]: t["value"] for t in run["tags"]}
    for key in ("soleflip/sensor", "dagster/schedule_name", "soleflip/trigger"):
        if key in tags:
            return f"{tags[key]} {run['runId'][:8]}"
    return f"other {run['runId'][:8]}"


RUN_RECORDS_QUERY = """
query ($runId: ID!) {
  runOrError(runId: $runId) {
    ... on Run {
      eventConnection(limit: 10000) {
        events {
          ... on MaterializationEvent { timestamp }
          ... on AssetCheckEvaluationEvent { timestamp }
        }
      }
    }
  }
}
"""


def _recording_span(deployment: Deployment, run_id: str) -> tuple[float, float]:
    """From the first to the last materialization or check evaluation of a run (s)."""
    response = requests.post(
        f"http://127.0.0.1:{deployment.port}/graphql",
        json={"query": RUN_RECORDS_QUERY, "variables": {"runId": run_id}},
        timeout=30,
    )
    response.raise_for_status()
    events = response.json()["data"]["runOrError"]["eventConnection"]["events"]
    stamps = [float(e["timestamp"]) / 1000 for e in events if e.get("timestamp")]
    return min(stamps), max(stamps)


REFRESH_RUNS_QUERY = """
query {
  runsOrError {
    ... on Runs { results { runId jobName status startTime endTime tags { key value } } }
  }
}
"""
# What the UI's "Materialize" sends for the selected assets (and "Materialize all" for
# every asset): a run of the implicit asset job, with none of the project's tags.
LAUNCH_MUTATION = """
mutation ($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}
"""


def _materialize_from_the_ui(deployment: Deployment, paths: list[list[str]]) -> str:
    params = {
        "selector": {
            "repositoryLocationName": "soleflip_bi",
            "repositoryName": "__repository__",
            "pipelineName": "__ASSET_JOB",
            "assetSelection": [{"path": path} for path in paths],
        },
        "mode": "default",
        "runConfigData": {},
        "executionMetadata": {"tags": []},
    }
    response = requests.post(
        f"http://127.0.0.1:{deployment.port}/graphql",
        json={"query": LAUNCH_MUTATION, "variables": {"params": params}},
        timeout=60,
    )
    response.raise_for_status()
    launched = response.json()["data"]["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


UNFINISHED = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"}


def _stock_change(conn: psycopg.Connection) -> None:
    conn.execute(
        "update inventory.stock set color = coalesce(color, '') || '.' where ctid = "
        "(select ctid from inventory.stock order by random() limit 1)"
    )


def _mixed_bursts(url: str, bursts: int, per_burst: int, pause: float) -> int:
    """Commit bursts of order-only, stock-only and order-with-stock transactions; return
    the sales committed."""
    sales = 0
    with psycopg.connect(url) as conn:
        for _ in range(bursts):
            for n in range(per_burst):
                if n % 3 != 1:
                    insert_sale_orders(conn, 1, gross=180)
                    sales += 1
                if n % 3 != 0:
                    _stock_change(conn)
                conn.commit()
                time.sleep(0.05)
            time.sleep(pause)
    return sales


def test_the_ui_is_true_after_commits_a_scheduled_run_and_the_command_line_interleave(
    demo_deployment: Deployment,
) -> None:
    """Bursts of mixed order and stock commits, the hourly job launched through the run
    queue as its schedule launches it, two runs launched as the UI's Materialize launches
    them (the implicit asset job, no tag of ours), and `views refresh --all` from the
    command line, all at once. Afterwards no two refresh runs overlapped, every committed
    sale is in the view, and every check of every asset has an execution, not skipped,
    for that asset's latest materialization (what the asset pages show)."""
    deployment = demo_deployment
    _wait_for(deployment.sensor_cursor, 120, "the sensor's first tick")
    before = _orders_in_view(deployment.url)
    client = DagsterGraphQLClient("127.0.0.1", port_number=deployment.port)

    writer = ThreadPoolExecutor(max_workers=1)
    sales = writer.submit(_mixed_bursts, deployment.url, 3, 12, 4.0)
    time.sleep(3)
    hourly = client.submit_job_execution(
        "refresh_hourly",
        repository_location_name="soleflip_bi",
        repository_name="__repository__",
        tags={"dagster/schedule_name": "refresh_hourly_schedule"},
    )
    ui_view = _materialize_from_the_ui(deployment, [["analytics", "metabase_brand_analytics"]])
    ui_layer = _materialize_from_the_ui(
        deployment,
        [
            ["analytics", "order_facts"],
            ["analytics", "stock_facts"],
            ["analytics", "source_quality_issues"],
            ["analytics", "metabase_executive_metrics"],
        ],
    )
    cli = subprocess.run(
        [str(BIN / "soleflip-bi"), "views", "refresh", "--all", "--always-run"],
        cwd=settings.PROJECT_ROOT,
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    committed = sales.result(timeout=300)
    writer.shutdown()
    assert cli.returncode == 0, cli.stdout + cli.stderr

    _wait_for(
        lambda: _orders_in_view(deployment.url) == before + committed,
        300,
        "every committed sale in the view",
        interval=1,
    )

    def settled() -> list[dict] | None:
        runs = deployment.graphql(REFRESH_RUNS_QUERY)["runsOrError"]["results"]
        runs = [
            r
            for r in runs
            if r["runId"] in {ui_view, ui_layer}
            or any(t["key"] == "soleflip/refresh" for t in r["tags"])
        ]
        return None if any(r["status"] in UNFINISHED for r in runs) else runs

    _wait_for(settled, 300, "every refresh run to finish", interval=1)
    time.sleep(6)  # the sensor's last ticks: a run it requests now is waited for too
    runs = _wait_for(settled, 300, "every refresh run to finish", interval=1)

    assert client.get_run_status(hourly).value == "SUCCESS"
    assert {r["status"] for r in runs} == {"SUCCESS"}
    triggers = {_trigger(r).split()[0] for r in runs}
    assert {"source_changes_sensor", "refresh_hourly_schedule", "cli", "other"} <= triggers
    assert {ui_view, ui_layer} <= {r["runId"] for r in runs}
    # What each run recorded (materializations, check evaluations) spans a stretch of time
    # that no other run's records fall into: no two runs refreshed at once.
    spans = sorted((*_recording_span(deployment, r["runId"]), _trigger(r)) for r in runs)
    overlaps = [
        f"{a[2]} {a[0]:.1f}-{a[1]:.1f} and {b[2]} {b[0]:.1f}-{b[1]:.1f}"
        for a, b in pairwise(spans)
        if b[0] < a[1]
    ]
    assert overlaps == [], "two refresh runs refreshed at once"

    nodes = deployment.graphql(ASSET_STATE_QUERY)["assetNodes"]
    wrong = []
    for node in nodes:
        latest = (node["assetMaterializations"] or [{}])[0].get("runId")
        for check in node["assetChecksOrError"].get("checks", []):
            execution = check["executionForLatestMaterialization"]
            name = f"{'/'.join(node['assetKey']['path'])}:{check['name']}"
            if execution is None:
                wrong.append(f"{name}: no execution for the latest materialization ({latest})")
            elif execution["status"] not in {"SUCCEEDED", "FAILED"}:
                wrong.append(f"{name}: {execution['status']}")
            elif execution["runId"] != latest:
                wrong.append(f"{name}: evaluated by run {execution['runId']}, not {latest}")
    assert wrong == [], [(_trigger(r), r["status"]) for r in runs]


def test_runs_queued_across_a_daemon_restart_run_one_at_a_time_in_order(
    deployment: Deployment,
) -> None:
    """Two refresh runs queued while the daemon is down (a release restarting it) start
    once it is back, one at a time, in the order they were created."""
    _wait_for(deployment.sensor_cursor, 120, "the sensor's first tick")
    client = DagsterGraphQLClient("127.0.0.1", port_number=deployment.port)
    deployment.stop_daemon()
    queued = [
        client.submit_job_execution(
            job, repository_location_name="soleflip_bi", repository_name="__repository__"
        )
        for job in ("refresh_daily", "refresh_hourly")
    ]
    time.sleep(3)
    assert [client.get_run_status(run).value for run in queued] == ["QUEUED", "QUEUED"]
    deployment.start_daemon()
    _wait_for(
        lambda: all(client.get_run_status(run).value == "SUCCESS" for run in queued),
        300,
        "both queued runs to succeed",
        interval=1,
    )
    first, second = (_recording_span(deployment, run) for run in queued)
    assert first[1] < second[0], (
        f"the later run refreshed from {second[0]} while the earlier one still did until {first[1]}"
    )
