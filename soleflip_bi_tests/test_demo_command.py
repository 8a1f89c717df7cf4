"""`soleflip-bi demo` (what `make demo` runs): a free port, one daemon, a quiet console,
and a stop within 10 s of SIGINT or SIGTERM that takes every child with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import requests
from dagster._daemon.types import DaemonHeartbeat

from soleflip_bi.cli.main import main
from soleflip_bi.shared import settings
from soleflip_bi_tests.support.orders import add_sale_orders
from soleflip_bi_tests.support.processes import start_group, stop_group

SOLEFLIP = Path(sys.executable).parent / "soleflip-bi"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _processes_mentioning(text: str) -> list[int]:
    """Processes whose command line holds ``text`` (Dagster's children carry the instance's
    directory in theirs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def test_a_taken_port_is_one_line_before_anything_is_loaded(
    scratch_database_url: str, use_database, capsys
) -> None:
    use_database(scratch_database_url)
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert main(["demo", "--port", str(port)]) == 2
    [error] = capsys.readouterr().err.splitlines()
    assert error == (
        f"soleflip-bi: error: port {port} is taken (Address already in use): stop what holds "
        f"it, or choose another one with `make demo PORT={port + 1}`"
    )
    with psycopg.connect(scratch_database_url) as conn:
        assert conn.execute("select to_regclass('sales.\"order\"')").fetchone()[0] is None


def test_a_second_daemon_is_refused(
    scratch_database_url: str, use_database, dagster_home: Path, capsys
) -> None:
    use_database(scratch_database_url)
    with dg.DagsterInstance.get() as instance:
        instance.add_daemon_heartbeat(
            DaemonHeartbeat(time.time() - 5, "SENSOR", "another-demo", errors=[])
        )
    assert main(["demo", "--port", str(_free_port())]) == 2
    [error] = capsys.readouterr().err.splitlines()
    assert error.startswith(
        f"soleflip-bi: error: a Dagster daemon is already running for {dagster_home} (its "
        "last heartbeat was 5 s ago): stop the other demo first"
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_demo_is_quiet_and_stops_with_all_its_children_within_10_s(
    scratch_database_url: str, dagster_home: Path, tmp_path: Path, signum: int
) -> None:
    port = _free_port()
    log = tmp_path / "demo.log"
    env = {**os.environ, "SOLEFLIP_DATABASE_URL": scratch_database_url}
    demo = start_group(
        [str(SOLEFLIP), "demo", "--port", str(port), "--orders", "200"],
        cwd=settings.PROJECT_ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert demo.poll() is None, log.read_text()
            time.sleep(1)
        else:
            raise AssertionError("the demo's UI did not answer:\n" + log.read_text())
        add_sale_orders(scratch_database_url, 1)  # a sensor run, whose events stay off it
        time.sleep(12)  # the sensor's ticks and run, the daemon's loops
        daemons = [
            pid
            for pid in _processes_mentioning(str(dagster_home))
            if "dagster._daemon" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
        ]
        assert len(daemons) == 1

        os.kill(demo.pid, signum)
        stopped = time.monotonic()
        demo.wait(timeout=15)
        took = time.monotonic() - stopped
        while _processes_mentioning(str(dagster_home)) and time.monotonic() - stopped < 10:
            time.sleep(0.2)
        assert _processes_mentioning(str(dagster_home)) == []
        assert took < 10
    finally:
        stop_group(demo, grace=5)
    output = log.read_text()
    assert f"Dagster UI:     http://localhost:{port}\n" in output
    database = scratch_database_url.rsplit("/", 1)[1]
    assert f"shop database:  user=postgres dbname={database} " in output
    assert "Checking for new runs" not in output and "fork_posix" not in output
    assert "Traceback" not in output
    # dagster dev's warning about a dagster.yaml beside a different DAGSTER_HOME
    assert "dagster.yaml" not in output and "DAGSTER_HOME" not in output
    # the daemon's event-log consumer on a new instance, and a run's own console
    assert "No cursor for event type" not in output
    assert " - DEBUG - " not in output and "RUN_SUCCESS" not in output
    with dg.DagsterInstance.get() as instance:  # and there was a sensor run to be quiet about
        sensor_runs = instance.get_run_records(
            filters=dg.RunsFilter(tags={"soleflip/sensor": "source_changes_sensor"})
        )
    assert [r.dagster_run.status for r in sensor_runs] == [dg.DagsterRunStatus.SUCCESS]
