"""``soleflip-bi migrate pg-cron``: retire the old system's pg_cron refresh jobs.

Without a flag it shows what it would do and exits 2 when a job is pending, 0 when none
is (as ``views plan`` does). ``--apply`` records and unschedules the jobs and then
refreshes every view through Dagster. ``--restore`` shows the retired jobs it would
schedule again and exits 2; with ``--yes`` it schedules them. A job retired from another
role is restored only with ``--other-roles``: scheduling a job as another role is a
superuser's act (pg_cron's rule), and a job its owner had moved away is not brought back
by someone else by accident.

pg_cron's jobs are found wherever pg_cron keeps them (``views/cron_site.py``): in the
shop's database, or in ``cron.database_name`` (``postgres`` by default), or in the
database of ``--cron-database-url`` / ``SOLEFLIP_CRON_DATABASE_URL``. Where they cannot
be found the command says so and exits 1.
"""

from __future__ import annotations

import argparse

from soleflip_bi.cli.views import run_refresh
from soleflip_bi.database.connection import connect
from soleflip_bi.shared import settings
from soleflip_bi.views.cron_site import cron_connection, locate
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
        help="unschedule them (recorded in soleflip_bi_migration), then `views refresh --all`",
    )
    mode.add_argument(
        "--restore",
        action="store_true",
        help="show the retired jobs that would be scheduled again (exit 2); --yes does it",
    )
    cron.add_argument("--yes", action="store_true", help="with --restore: schedule them")
    cron.add_argument(
        "--other-roles",
        action="store_true",
        help="with --restore: also the jobs of roles other than this one (a superuser's act)",
    )
    cron.add_argument(
        "--cron-database-url",
        default=None,
        help="libpq URL of the database pg_cron keeps its jobs in, when this role cannot "
        "read cron.database_name (default: SOLEFLIP_CRON_DATABASE_URL)",
    )
    cron.set_defaults(run=run_pg_cron, error_status=1)


def run_pg_cron(args: argparse.Namespace) -> int:
    cron_url = args.cron_database_url or settings.cron_database_url_override()
    with connect() as conn:
        site = locate(conn, cron_url)
        if not site.loaded:
            print(f"pg_cron is not loaded by this server ({site.found_by}): nothing to retire")
            return 0
        with cron_connection(conn, site, cron_url) as cron:
            if args.restore:
                return _restore(conn, cron, args)
            found = plan(cron, site)
            where = f"database {site.database} ({site.found_by})"
            if not found.installed:
                print(f"pg_cron's extension is not created in {where}: nothing to retire")
                return 0
            print(f"pg_cron keeps its jobs in {where}; jobs for {site.shop_database}:")
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
            retire(conn, cron, [job for job, _ in found.retire])
            print(
                f"retired {len(found.retire)} job(s), recorded in "
                "soleflip_bi_migration.retired_cron_job (`--restore` schedules them again)"
            )
    return run_refresh(
        argparse.Namespace(all=True, tier=None, name=None, always_run=True, wait=None, force=False)
    )


def _restore(conn, cron, args: argparse.Namespace) -> int:
    pending = [retired.job for retired in retired_jobs(conn)]
    if not pending:
        print("no retired pg_cron job to restore")
        return 0
    me = cron.execute("select current_user").fetchone()[0]
    chosen = [job for job in pending if args.other_roles or job.username == me]
    for job in pending:
        if job not in chosen:
            print(f"kept retired: {job.label} of role {job.username} (--other-roles restores it)")
    for job in chosen:
        state = "" if job.active else ", paused as it was"
        print(
            f"{'restoring' if args.yes else 'would restore'}: {job.label} as {job.username} "
            f"in database {job.database}{state}"
        )
        print(f"  {' '.join(job.command.split())}")
    if not chosen:
        return 0
    if not args.yes:
        print(
            f"run `soleflip-bi migrate pg-cron --restore --yes` to schedule {len(chosen)} "
            "job(s) again: each refreshes views soleflip-bi refreshes too"
        )
        return 2
    for job, new_id in restore(conn, cron, chosen):
        print(f"restored {job.label} as job {new_id}")
    return 0
