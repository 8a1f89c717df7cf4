"""``soleflip-bi demo``: everything `make demo` promises, in one command.

Before anything is loaded it checks that the UI's port is free and that no Dagster daemon
already works for this instance (a second `make demo` would start a second one). It then
runs ``dg dev`` (webserver, daemon and code server) as a process group of its own, quietly
(warnings and errors only), and stops that whole group when it gets SIGINT or SIGTERM:
politely first, then, after STOP_GRACE_SECONDS, by force.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from soleflip_bi.cli.db import run_load_demo
from soleflip_bi.cli.lazy import dagster_side
from soleflip_bi.database.connection import redact, resolve_database_url
from soleflip_bi.shared import settings
from soleflip_bi.sources.demo import DEFAULT_ORDERS, DEFAULT_SEED

STOP_GRACE_SECONDS = 6.0  # then SIGKILL: everything is gone within 10 s of the signal
DAEMON_ALIVE_SECONDS = 60.0  # a daemon heartbeats every 30 s; Dagster's UI allows 60


class DemoRefused(RuntimeError):
    """The demo cannot start as asked; the message says what to do."""


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo", help="embedded database + demo data + views + Dagster UI (webserver and daemon)"
    )
    demo.add_argument("--orders", type=int, default=DEFAULT_ORDERS)
    demo.add_argument("--seed", type=int, default=DEFAULT_SEED)
    demo.add_argument("--port", type=int, default=3000, help="the UI's port (make demo PORT=N)")
    demo.add_argument("--no-ui", action="store_true", help="prepare everything, start no UI")
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    if not args.no_ui:
        check_port_free(args.port)
    runs = dagster_side()
    env = runs.dagster_environment()
    if not args.no_ui:
        age = runs.daemon_heartbeat_age()
        if age is not None and age < DAEMON_ALIVE_SECONDS:
            raise DemoRefused(
                f"a Dagster daemon is already running for {env['DAGSTER_HOME']} (its last "
                f"heartbeat was {age:.0f} s ago): stop the other demo first, or wait "
                f"{DAEMON_ALIVE_SECONDS - age:.0f} s if it was killed"
            )
    load = argparse.Namespace(orders=args.orders, seed=args.seed, force=False, if_empty=True)
    run_load_demo(load)
    runs.refresh_everything()
    if args.no_ui:
        return 0
    print(f"Dagster UI:     http://localhost:{args.port}")
    print(f"shop database:  {redact(resolve_database_url())}")
    print("Ctrl-C stops the UI, the daemon and the code server.", flush=True)
    runs.start_event_consumer_at_the_newest_event()
    status = supervise(_dg_dev(args.port, env))
    runs.forget_daemon_heartbeats()  # this demo's daemon is gone: the next one may start
    return status


def check_port_free(port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError as exc:
            raise DemoRefused(
                f"port {port} is taken ({exc.strerror}): stop what holds it, or choose "
                f"another one with `make demo PORT={port + 1}`"
            ) from exc


def _dg_dev(port: int, env: dict[str, str]) -> subprocess.Popen:
    """``dg dev`` on the project's workspace, run from inside the instance's home.

    ``dagster dev`` warns whenever the folder it starts in holds a ``dagster.yaml`` that is
    not DAGSTER_HOME's, which the checkout's always is. Started in DAGSTER_HOME (whose
    ``dagster.yaml`` is the project's, copied there by ``prepare_dagster_environment``) with
    the workspace named, it loads the same code location and has nothing to warn about.
    """
    dg = os.path.join(os.path.dirname(sys.executable), "dg")
    home = Path(env["DAGSTER_HOME"]).resolve()
    quiet = {
        "DAGSTER_HOME": str(home),  # dagster dev compares it with its working directory
        "VIRTUAL_ENV": sys.prefix,  # dg compares the running venv with the project's .venv
        "GRPC_VERBOSITY": "ERROR",  # no "skipping fork() handlers" notice on every fork
    }
    workspace = settings.PROJECT_ROOT / "workspace.yaml"
    return subprocess.Popen(
        [dg, "dev", "-w", str(workspace), "-p", str(port), "--log-level", "warning"],
        cwd=home,
        env={**os.environ, **env, **quiet},
        start_new_session=True,  # a process group of its own, stopped as a whole
        preexec_fn=default_signals,
    )


def default_signals() -> None:
    """SIGINT and SIGTERM at their defaults in ``dg dev``. Started from a shell in the
    background, the demo inherits an ignored SIGINT; Dagster maps SIGTERM to what SIGINT
    does (``dagster._utils.interrupts.setup_interrupt_handlers``), so its processes would
    ignore the stop and only the SIGKILL after the grace period would end them."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def supervise(child: subprocess.Popen) -> int:
    """Wait for ``child``; on SIGINT or SIGTERM stop its whole process group."""
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while child.poll() is None and not stopping:
            time.sleep(0.2)
        _stop_group(child)  # also when dg dev died by itself: its children go with it
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0 if stopping else int(child.returncode or 0)


def _stop_group(child: subprocess.Popen) -> None:
    """SIGTERM to ``dg dev`` alone, which stops its webserver, daemon and code server in its
    own order (signalling them all at once fails the sensor ticks in flight); whatever is
    left of the group after the grace period is killed."""
    for signum, wait in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, 2.0)):
        try:
            if signum == signal.SIGTERM:
                child.send_signal(signum)
            else:
                os.killpg(child.pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            child.poll()
            if not _group_alive(child.pid):
                return
            time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. Zombies do not count: ``killpg(pgid, 0)``
    succeeds on them, and an init that reaps orphans slowly (a container's) would keep the
    group "alive" until the SIGKILL step timed out."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():  # no procfs: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False
