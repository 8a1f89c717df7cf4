"""Processes a test starts and must not leave behind.

Every long-running process a fixture starts gets a session (and process group) of its
own, so that stopping it also stops whatever it started in turn (dagster-webserver and
dagster-daemon each start a `dagster api grpc` code server): SIGTERM to the whole group,
a grace period, then SIGKILL to whatever is left. ``descendants`` lists the processes
still running below a pid, from the ppid chains in /proc (Linux).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Collection
from dataclasses import dataclass
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Any

from soleflip_bi.cli.demo import default_signals
from soleflip_bi.shared.settings import embedded_dir


def start_group(argv: list[str], **popen: Any) -> subprocess.Popen:
    """Start ``argv`` as the leader of a new session and process group, with SIGINT and
    SIGTERM at their defaults, as a service manager starts a unit. A process inherits
    ignored signals: pytest started in the background ignores SIGINT, and Dagster maps
    SIGTERM to whatever SIGINT does (``setup_interrupt_handlers``), so a child would
    otherwise ignore both and only SIGKILL would stop it."""
    return subprocess.Popen(argv, start_new_session=True, preexec_fn=default_signals, **popen)


def stop_group(process: subprocess.Popen, grace: float = 30.0) -> None:
    """SIGTERM the process group led by ``process``, wait ``grace`` s, then SIGKILL it."""
    group = process.pid  # a session leader's pid is its process group id
    _signal_group(group, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    deadline = time.monotonic() + grace
    while _group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.1)  # the leader is gone, its children may still be shutting down
    if _group_alive(group):
        _signal_group(group, signal.SIGKILL)
    if process.poll() is None:
        process.wait(timeout=10)


def _signal_group(group: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def _group_alive(group: int) -> bool:
    return any(p.pgid == group and p.state != "Z" for p in processes().values())


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    pgid: int
    state: str

    @property
    def command(self) -> str:
        try:
            raw = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return "?"
        return raw.replace(b"\0", b" ").decode(errors="replace").strip() or "?"


def processes() -> dict[int, Process]:
    """Every process visible in /proc, by pid."""
    found: dict[int, Process] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = Process(int(entry.name), int(fields[1]), int(fields[2]), fields[0])
    return found


def descendants(root: int, spared: Collection[int] = ()) -> list[Process]:
    """Live (not zombie) processes below ``root``; ``spared`` pids and their own
    descendants are left out."""
    table = processes()
    children: dict[int, list[int]] = {}
    for process in table.values():
        children.setdefault(process.ppid, []).append(process.pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid in spared:
            continue
        todo.extend(children.get(pid, []))
        if table[pid].state != "Z":
            found.append(table[pid])
    return sorted(found, key=lambda p: p.pid)


def reap_zombies(root: int) -> None:
    """Collect the exit status of dead children of this process (pid ``root``)."""
    for process in processes().values():
        if process.ppid == root and process.state == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(process.pid, os.WNOHANG)


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux), so that a process whose
    parent has exited (a code server left by a killed webserver) is still found below
    it instead of under init. Returns whether that worked."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def embedded_postmaster() -> int | None:
    """The pid of the embedded PostgreSQL server, which outlives the tests on purpose (it
    may be shared with `make demo`)."""
    try:
        return int((embedded_dir() / "pgdata" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def expected_helpers() -> set[int]:
    """Descendants that are meant to be there: the embedded server (with its own
    children), and Python's multiprocessing resource tracker, which exits with this
    interpreter (it reads a pipe only this process holds)."""
    spared = {embedded_postmaster(), getattr(resource_tracker._resource_tracker, "_pid", None)}
    return {pid for pid in spared if pid is not None}


def _compute_log_tailers(found: list[Process]) -> set[int]:
    """Dagster's compute-log capture of a run executed in this process: a ``tail -F`` per
    stream and a ``watch_orphans.py <this pid> <tail pid>`` that kills it when this
    interpreter exits (``dagster/_core/execution/scripts/watch_orphans.py``), so they end
    with the session by Dagster's own design."""
    me = str(os.getpid())
    spared: set[int] = set()
    for process in found:
        words = process.command.split()
        if len(words) >= 4 and words[-3].endswith("watch_orphans.py") and words[-2] == me:
            spared.update({process.pid, int(words[-1])})
    return spared


def leftover_processes() -> list[Process]:
    """Processes still running below this one that nobody meant to leave running."""
    found = descendants(os.getpid(), spared=expected_helpers())
    tailers = _compute_log_tailers(found)
    return [process for process in found if process.pid not in tailers]


def kill_all(leftovers: list[Process], grace: float = 5.0) -> None:
    """SIGTERM each, wait up to ``grace`` s, SIGKILL what is left, and reap our children."""
    for process in leftovers:
        _signal(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    pids = {process.pid for process in leftovers}
    while time.monotonic() < deadline:
        table = processes()
        if not any(pid in table and table[pid].state != "Z" for pid in pids):
            break
        time.sleep(0.1)
    for pid in pids:
        _signal(pid, signal.SIGKILL)
    time.sleep(0.1)
    reap_zombies(os.getpid())


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
