"""The session's check for leftover processes (conftest.py) finds what a test leaves behind.

A process started in a session of its own is found below pytest, and so is an orphan
whose parent exited (pytest adopts it as a child subreaper); once killed, neither is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from soleflip_bi_tests.support.processes import (
    leftover_processes,
    start_group,
    stop_group,
)


def _listed(pid: int) -> bool:
    return pid in {process.pid for process in leftover_processes()}


def test_a_child_in_a_session_of_its_own_is_found_until_it_is_killed() -> None:
    child = start_group(["sleep", "60"])
    try:
        assert _listed(child.pid)
        [found] = [p for p in leftover_processes() if p.pid == child.pid]
        assert found.command == "sleep 60"
        assert found.pgid == child.pid  # the leader of a group of its own
    finally:
        stop_group(child, grace=5)
    assert child.returncode == -signal.SIGTERM
    assert not _listed(child.pid)


def test_an_orphan_is_found_below_pytest_until_it_is_killed() -> None:
    started = subprocess.run(
        ["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    orphan = int(started.stdout)  # its parent, the shell, has exited
    try:
        deadline = time.monotonic() + 5
        while not _listed(orphan) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _listed(orphan), "an orphan must be adopted by pytest and found"
    finally:
        os.kill(orphan, signal.SIGKILL)
        os.waitpid(orphan, 0)  # pytest adopted it: its exit status is ours to collect
    assert not _listed(orphan)
