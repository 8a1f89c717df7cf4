"""Production as deploy/ ships it: `dagster code-server start`, `dagster-webserver -w
deploy/workspace.yaml` and `dagster-daemon run` as three separate process groups with
deploy/dagster.yaml, against Debian's PostgreSQL 15 with SCRAM passwords, the shop database
owned by its own role, Dagster's storage in a database of its own, and the refresh and
read-only roles made by the project's commands."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
import yaml

from soleflip_bi.cli.main import main
from soleflip_bi.shared import settings
from soleflip_bi_tests.support.debian_postgres import DebianServer, debian_server
from soleflip_bi_tests.support.figures import report
from soleflip_bi_tests.support.orders import add_sale_orders
from soleflip_bi_tests.support.processes import descendants, start_group, stop_group
from soleflip_bi_tests.support.shop import stock_shop

BIN = Path(sys.executable).parent
DEPLOY = settings.PROJECT_ROOT / "deploy"
LOCATION_QUERY = """
query {
  workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus updatedTimestamp
    locationOrLoadError { __typename ... on PythonError { message } }
  } } }
}
"""
RUNS_QUERY = """
query { runsOrError { ... on Runs { results {
  runId status jobName creationTime startTime tags { key value }
  eventConnection(afterCursor: null) { events { __typename
    ... on MessageEvent { message } } }
} } } }
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Production:
    """The three processes, each in a process group of its own, as systemd runs them."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        self.web_port = _free_port()
        workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
        self.socket = home / "code-server.sock"
        workspace["load_from"][0]["grpc_server"]["socket"] = str(self.socket)
        self.workspace = home / "workspace.yaml"
        self.workspace.write_text(yaml.safe_dump(workspace))
        self.code_server: subprocess.Popen | None = None
        self.others: list[subprocess.Popen] = []
        self.retired: list[subprocess.Popen] = []  # stopped code servers: their runs' groups

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        return start_group(
            argv,
            cwd=self.home,
            env=self.env,
            stdout=(self.home / f"{name}.log").open("a"),
            stderr=subprocess.STDOUT,
        )

    def start_code_server(self) -> None:
        unit = (DEPLOY / "systemd" / "soleflip-bi-code-server.service").read_text()
        [command] = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
        argv = command.removeprefix("ExecStart=").split()
        argv[0] = str(BIN / "dagster")
        argv[argv.index("-s") + 1] = str(self.socket)
        self.socket.unlink(missing_ok=True)  # systemd removes the runtime directory on stop
        self.code_server = self._start("code-server", argv)
        _wait_for(self._grpc_listening, 120, "the code server")

    def stop_code_server(self) -> None:
        """As systemd stops the unit (KillMode=process): SIGTERM to the code server alone.
        The runs it launched are processes of their own and finish their work."""
        if self.code_server is None:
            raise RuntimeError("the code server is not running")
        self.code_server.terminate()
        self.code_server.wait(timeout=90)
        self.retired.append(self.code_server)
        self.code_server = None

    def kill_code_server_and_runs(self) -> None:
        """kill -9 of the code server and every process it started (its runs' workers), as
        an out-of-memory kill of the service or a crash of the host takes them."""
        if self.code_server is None:
            raise RuntimeError("the code server is not running")
        victims = [p.pid for p in descendants(self.code_server.pid)]
        for pid in [self.code_server.pid, *victims]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.code_server.wait(timeout=30)
        self.code_server = None

    def start_ui_and_daemon(self) -> None:
        ws = str(self.workspace)
        self.others.append(
            self._start(
                "webserver",
                [
                    str(BIN / "dagster-webserver"),
                    "-w",
                    ws,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.web_port),
                ],
            )
        )
        self.others.append(self._start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", ws]))
        _wait_for(self._answers, 120, "the webserver")

    def stop(self) -> None:
        for process in [*self.others, self.code_server, *self.retired]:
            if process is not None:
                stop_group(process)
        for log in ("code-server", "webserver", "daemon"):
            path = self.home / f"{log}.log"
            if path.exists():
                print(
                    f"--- last lines of {log}.log ---",
                    *path.read_text().splitlines()[-30:],
                    sep="\n",
                )

    def graphql(self, query: str) -> dict:
        response = requests.post(
            f"http://127.0.0.1:{self.web_port}/graphql", json={"query": query}, timeout=30
        )
        response.raise_for_status()
        return response.json()["data"]

    def location(self) -> dict:
        [entry] = self.graphql(LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
        return entry

    def _grpc_listening(self) -> bool:
        with socket.socket(socket.AF_UNIX) as probe:
            return probe.connect_ex(str(self.socket)) == 0

    def _answers(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.web_port}/server_info", timeout=2).ok
        except requests.RequestException:
            return False


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DebianServer, Production, str]]:
    with debian_server() as server:
        # The shop as it stands on the day: its data and change capture, owned by its role.
        stock_shop(server.shop_url, views=False)
        # The DBA makes the two roles, as the README's production section says.
        refresh_password, reader_password = (f"{r}-{uuid.uuid4().hex}" for r in ("ref", "read"))
        monkeypatch.setenv("SOLEFLIP_DATABASE_URL", server.superuser_url)
        monkeypatch.setenv("SOLEFLIP_REFRESH_PASSWORD", refresh_password)
        monkeypatch.setenv("SOLEFLIP_READONLY_PASSWORD", reader_password)
        assert main(["db", "create-refresh-role", "soleflip_refresh"]) == 0
        assert main(["db", "grant-readonly", "metabase_reader"]) == 0
        refresh_url = server.url("soleflip_refresh", refresh_password, "soleflip")
        reader_url = server.url("metabase_reader", reader_password, "soleflip")

        home = settings.PROJECT_ROOT / f".tmp_dagster_home_{uuid.uuid4().hex[:8]}"
        home.mkdir()
        shutil.copyfile(DEPLOY / "dagster.yaml", home / "dagster.yaml")
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "SOLEFLIP_DATABASE_URL": refresh_url,
            "DAGSTER_POSTGRES_URL": server.dagster_url,
        }
        for name in ("SOLEFLIP_REFRESH_PASSWORD", "SOLEFLIP_READONLY_PASSWORD"):
            env.pop(name, None)
        # The first build, from the command line as the refresh role.
        built = subprocess.run(
            [str(BIN / "soleflip-bi"), "views", "refresh", "--all"],
            env=env,
            cwd=home,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert built.returncode == 0, built.stderr
        deployment = Production(home, env)
        try:
            deployment.start_code_server()
            deployment.start_ui_and_daemon()
            yield server, deployment, reader_url
        finally:
            deployment.stop()
            shutil.rmtree(home, ignore_errors=True)


def _sales_in_view(reader_url: str) -> int:
    with psycopg.connect(reader_url) as conn:
        return conn.execute(
            "select coalesce(sum(total_orders), 0) from analytics.metabase_executive_metrics"
        ).fetchone()[0]


VIEW_LOCK = "soleflip_bi:metabase_executive_metrics"  # bookkeeping/locks.lock_key
RUN_STATUS_QUERY = """
query { runsOrError { ... on Runs { results {
  runId status jobName
  eventConnection(afterCursor: null) { events { __typename ... on MessageEvent { message } } }
} } } }
"""


def _runs(deployment: Production) -> list[dict]:
    return deployment.graphql(RUN_STATUS_QUERY)["runsOrError"]["results"]


def _blocked_on_view_lock(server: DebianServer) -> bool:
    """Whether a session waits for the advisory lock the test holds (a view step)."""
    with psycopg.connect(server.shop_url) as conn:
        return bool(
            conn.execute(
                "select count(*) from pg_locks where locktype = 'advisory' and not granted"
            ).fetchone()[0]
        )


def _holding_view_lock(server: DebianServer) -> psycopg.Connection:
    conn = psycopg.connect(server.shop_url, autocommit=True)
    conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (VIEW_LOCK,))
    return conn


def _in_flight_run(server: DebianServer, deployment: Production) -> dict:
    """The sensor's run, started and blocked inside the view step by the test's lock."""
    _wait_for(lambda: _blocked_on_view_lock(server), 120, "a run blocked in its view step")
    [run] = [r for r in _runs(deployment) if r["status"] == "STARTED"]
    return run


def _all_runs_ended(deployment: Production) -> list[dict] | None:
    runs = _runs(deployment)
    unfinished = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"}
    return None if any(r["status"] in unfinished for r in runs) else runs


def _messages(run: dict) -> list[str]:
    return [e.get("message") or "" for e in run["eventConnection"]["events"]]


def test_production_processes_on_postgresql_15(production) -> None:
    server, deployment, reader_url = production
    loaded = deployment.location()
    assert (loaded["name"], loaded["loadStatus"]) == ("soleflip_bi", "LOADED")
    assert loaded["locationOrLoadError"]["__typename"] == "RepositoryLocation"

    # An order written by the shop's application reaches the view through the sensor,
    # read back by the read-only role Metabase uses.
    before = _sales_in_view(reader_url)
    add_sale_orders(server.shop_url, 1, gross=250)
    _wait_for(lambda: _sales_in_view(reader_url) == before + 1, 90, "the order in the view")
    with psycopg.connect(reader_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute('select count(*) from sales."order"')
    with psycopg.connect(reader_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("refresh materialized view analytics.metabase_executive_metrics")

    # A release: the code server alone stops and starts again. An order committed
    # meanwhile is not lost, the daemon picks up and the UI shows the location reloaded.
    stopped_at = time.time()
    deployment.stop_code_server()
    add_sale_orders(server.shop_url, 1, gross=260)
    _wait_for(
        lambda: deployment.location()["locationOrLoadError"]["__typename"] == "PythonError",
        60,
        "the UI to show the code server unreachable",
    )
    deployment.start_code_server()
    _wait_for(lambda: _sales_in_view(reader_url) == before + 2, 180, "the second order in the view")
    reloaded = _wait_for(
        lambda: (
            (e := deployment.location())["locationOrLoadError"]["__typename"]
            == "RepositoryLocation"
            and e
        ),
        60,
        "the UI to show the location loaded again",
    )
    assert reloaded["loadStatus"] == "LOADED" and reloaded["updatedTimestamp"] > stopped_at
    runs = _wait_for(lambda: _all_runs_ended(deployment), 180, "every run to end")
    failed = [(r["jobName"], r["status"], _messages(r)[-8:]) for r in runs]
    failed = [f for f in failed if f[1] != "SUCCESS"]
    assert failed == []
    assert sum(r["jobName"] == "refresh_on_source_change" for r in runs) >= 2


def test_a_release_with_a_refresh_run_in_flight(production, capsys) -> None:
    """The code server stops (SIGTERM to it alone, as its unit does) while a run is blocked
    inside a view step. The run ends, SUCCESS or FAILURE, never STARTED for ever, and the
    next order arrives."""
    server, deployment, reader_url = production
    before = _sales_in_view(reader_url)
    lock = _holding_view_lock(server)
    try:
        add_sale_orders(server.shop_url, 1, gross=270)
        in_flight = _in_flight_run(server, deployment)
        deployment.stop_code_server()
        deployment.start_code_server()
    finally:
        lock.close()
    runs = _wait_for(lambda: _all_runs_ended(deployment), 240, "every run to end")
    [ended] = [r for r in runs if r["runId"] == in_flight["runId"]]
    assert ended["status"] in {"SUCCESS", "FAILURE"}, _messages(ended)[-8:]
    add_sale_orders(server.shop_url, 1, gross=280)
    _wait_for(lambda: _sales_in_view(reader_url) == before + 2, 180, "both orders in the view")
    report(
        capsys,
        "release_with_run_in_flight",
        in_flight_status=ended["status"],
        runs=len(runs),
        orders_in_view=_sales_in_view(reader_url) - before,
    )


def test_a_run_killed_with_its_code_server_is_failed_and_its_order_arrives(
    production, capsys
) -> None:
    """kill -9 of a run's worker and of the code server that spawned it, while the run is
    blocked in a view step: nothing is left to report the run. The dead_refresh_runs sensor
    fails it with a message that says why, within two minutes; the slot is free again, and
    both its order and the next reach the view."""
    server, deployment, reader_url = production
    before = _sales_in_view(reader_url)
    lock = _holding_view_lock(server)
    try:
        add_sale_orders(server.shop_url, 1, gross=290)
        in_flight = _in_flight_run(server, deployment)
        deployment.kill_code_server_and_runs()
        killed_at = time.monotonic()
        deployment.start_code_server()  # as its unit would (Restart=always)
    finally:
        lock.close()

    def failed() -> dict | None:
        [run] = [r for r in _runs(deployment) if r["runId"] == in_flight["runId"]]
        return run if run["status"] == "FAILURE" else None

    dead = _wait_for(failed, 150, "the killed run to be failed")
    failed_after = time.monotonic() - killed_at
    assert failed_after < 150
    assert any("The run's process is gone" in m for m in _messages(dead)), _messages(dead)
    add_sale_orders(server.shop_url, 1, gross=300)
    _wait_for(lambda: _sales_in_view(reader_url) == before + 2, 180, "both orders in the view")
    arrived_after = time.monotonic() - killed_at
    runs = _wait_for(lambda: _all_runs_ended(deployment), 180, "every run to end")
    assert [r["runId"] for r in runs if r["status"] == "STARTED"] == []
    report(
        capsys,
        "run_killed_with_its_code_server",
        seconds_kill_to_failure=round(failed_after, 1),
        seconds_kill_to_both_orders=round(arrived_after, 1),
        runs_by_status={s: sum(r["status"] == s for r in runs) for s in {"SUCCESS", "FAILURE"}},
    )
