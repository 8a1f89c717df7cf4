"""``soleflip-bi migrate pg-cron``: retire the old system's pg_cron refresh jobs.

Without a flag it shows what it would do and exits 2 when a job is pending, 0 when none
is (as ``views plan`` does). ``--apply`` records and unschedules the jobs in one
transaction and then refreshes every view through Dagster; ``--restore`` schedules the
recorded jobs again.
"""

from __future__ import annotations

import argparse

from soleflip_bi.cli.views import run_refresh
from soleflip_bi.database.connection import connect
from soleflip_bi.views.pg_cron import plan, restore, retire, retired_jobs


def register(commands: argparse._SubParsersAction) -> None:
    migrate = commands.add_parser("migrate", help="take over from the old system")
    sub = migrate.add_subparsers(dest="action", required=True)
    cron = sub.add_parser(
        "pg-cron",
        help="list the pg_cron jobs that refresh our views (exit 2 when any is pending)",
    )
    mode = cron.add_mutually_exclusive_group()
    mode.add_argument(
        "--apply",
        action="store_true",
        help="unschedule them (recorded in soleflip_bi), then `views refresh --all`",
    )
    mode.add_argument(
        "--restore", action="store_true", help="schedule the retired jobs again, as they were"
    )
    cron.set_defaults(run=run_pg_cron, error_status=1)


def run_pg_cron(args: argparse.Namespace) -> int:
    with connect() as conn:
        if args.restore:
            return _restore(conn)
        found = plan(conn)
        database = conn.info.dbname
        if not found.installed:
            print(f"pg_cron is not installed in database {database}: nothing to retire")
            return 0
        for job, targets in found.retire:
            print(f"{job.label} as {job.username}: refreshes {', '.join(targets)}")
            print(f"  {' '.join(job.command.split())}")
        for job in found.others:
            print(f"left alone: {job.label} as {job.username}")
        print(
            f"{len(found.retire)} pg_cron job(s) refresh views soleflip-bi refreshes; "
            f"{len(found.others)} other job(s) left alone"
        )
        if not args.apply:
            if found.pending:
                print("run `soleflip-bi migrate pg-cron --apply` to retire them")
            return 2 if found.pending else 0
        retire(conn, [job for job, _ in found.retire])
        print(
            f"retired {len(found.retire)} job(s), recorded in soleflip_bi.retired_cron_job "
            "(`--restore` schedules them again)"
        )
    return run_refresh(
        argparse.Namespace(all=True, tier=None, name=None, always_run=True, wait=None)
    )


def _restore(conn) -> int:
    pending = retired_jobs(conn)
    if not pending:
        print("no retired pg_cron job to restore")
        return 0
    for job, new_id in restore(conn):
        print(f"restored {job.label} as job {new_id}")
    return 0
