"""``soleflip-bi demo``: everything `make demo` promises, in one command."""

from __future__ import annotations

import argparse
import os
import sys

from soleflip_bi.cli.db import run_load_demo
from soleflip_bi.cli.lazy import dagster_side
from soleflip_bi.shared import settings
from soleflip_bi.sources.demo import DEFAULT_ORDERS, DEFAULT_SEED


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo", help="embedded database + demo data + views + Dagster UI (webserver and daemon)"
    )
    demo.add_argument("--orders", type=int, default=DEFAULT_ORDERS)
    demo.add_argument("--seed", type=int, default=DEFAULT_SEED)
    demo.add_argument("--port", type=int, default=3000)
    demo.add_argument("--no-ui", action="store_true", help="prepare everything, start no UI")
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    runs = dagster_side()
    env = runs.dagster_environment()
    load = argparse.Namespace(orders=args.orders, seed=args.seed, force=False, if_empty=True)
    run_load_demo(load)
    runs.refresh_everything()
    if args.no_ui:
        return 0
    print(f"Dagster UI: http://localhost:{args.port}  (Ctrl-C stops webserver and daemon)")
    dg = os.path.join(os.path.dirname(sys.executable), "dg")
    os.chdir(settings.PROJECT_ROOT)  # dg finds the project by its pyproject.toml
    # dg compares the running venv with the project's .venv; they are the same one.
    venv = {"VIRTUAL_ENV": sys.prefix}
    os.execve(dg, [dg, "dev", "-p", str(args.port)], {**os.environ, **env, **venv})
    return 0  # not reached
