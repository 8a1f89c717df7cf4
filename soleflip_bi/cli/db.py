"""``soleflip-bi db``: the embedded server, demo data and database roles."""

from __future__ import annotations

import argparse
import sys

from soleflip_bi.capture.install import install_change_capture, record_reload
from soleflip_bi.database.connection import connect, redact, resolve_database_url
from soleflip_bi.database.embedded import default_server
from soleflip_bi.roles.readonly import grant_readonly, private_schemas, readonly_password
from soleflip_bi.roles.refresh import create_refresh_role, refresh_password
from soleflip_bi.shared import settings
from soleflip_bi.sources.demo import DEFAULT_ORDERS, DEFAULT_SEED, load_demo


def register(commands: argparse._SubParsersAction) -> None:
    db = commands.add_parser("db", help="database: embedded server, demo data, roles")
    sub = db.add_subparsers(dest="action", required=True)

    sub.add_parser("start", help="start the embedded PostgreSQL server").set_defaults(run=start)
    sub.add_parser("stop", help="stop the embedded PostgreSQL server").set_defaults(run=stop)
    url = sub.add_parser("url", help="print the URL of the target database")
    url.add_argument("--database", help="another database on the embedded server (created)")
    url.set_defaults(run=print_url)

    load = sub.add_parser("load-demo", help="create the source schema and load demo data")
    load.add_argument("--orders", type=int, default=DEFAULT_ORDERS)
    load.add_argument("--seed", type=int, default=DEFAULT_SEED)
    load.add_argument(
        "--force",
        action="store_true",
        help="replace source data even if load-demo did not write it",
    )
    load.add_argument(
        "--if-empty", action="store_true", help="do nothing when demo data is already loaded"
    )
    load.set_defaults(run=run_load_demo)

    grant = sub.add_parser(
        "grant-readonly",
        help="create or update a LOGIN role that can read schema analytics and nothing else "
        "(password: $SOLEFLIP_READONLY_PASSWORD)",
    )
    grant.add_argument("role", help="e.g. metabase_reader")
    grant.set_defaults(run=run_grant_readonly)

    refresh = sub.add_parser(
        "create-refresh-role",
        help="create or update the LOGIN role Dagster refreshes with: SELECT on the sources, "
        "owner of analytics and soleflip_bi (password: $SOLEFLIP_REFRESH_PASSWORD)",
    )
    refresh.add_argument("role", help="e.g. soleflip_refresh")
    refresh.set_defaults(run=run_create_refresh_role)

    sub.add_parser(
        "install-change-capture",
        help="install the statement triggers the sensors read (needs source table ownership)",
    ).set_defaults(run=run_install_change_capture)


def start(_args: argparse.Namespace) -> int:
    url = default_server().ensure_running()
    print(f"embedded PostgreSQL running: {url}")
    return 0


def stop(_args: argparse.Namespace) -> int:
    was_running = default_server().stop()
    print("embedded PostgreSQL stopped" if was_running else "embedded PostgreSQL was not running")
    return 0


def print_url(args: argparse.Namespace) -> int:
    if args.database:
        if settings.database_url_override():
            print("--database only applies to the embedded server", file=sys.stderr)
            return 2
        server = default_server()
        server.ensure_running()
        print(server.create_database(args.database))
    else:
        print(resolve_database_url())
    return 0


def run_load_demo(args: argparse.Namespace) -> int:
    with connect() as conn:
        if args.if_empty and _demo_loaded(conn):
            print("demo data already loaded; leaving it as it is")
            return 0
        print(f"loading {args.orders:,} orders (seed {args.seed}) into {redact(conn.info.dsn)}")
        report = load_demo(
            conn,
            args.orders,
            args.seed,
            args.force,
            progress=lambda line: print(f"  {line}", flush=True),
        )
        install_change_capture(conn)
        record_reload(conn)
    for table, rows in report.row_counts.items():
        print(f"  {table:<22} {rows:>10,}")
    print(f"done in {report.seconds:.1f} s")
    return 0


def run_install_change_capture(_args: argparse.Namespace) -> int:
    with connect() as conn:
        install_change_capture(conn)
    print('change capture installed on sales."order" and inventory.stock')
    return 0


def run_grant_readonly(args: argparse.Namespace) -> int:
    password = readonly_password(args.role)
    with connect() as conn:
        grant = grant_readonly(conn, args.role, password)
    print(
        f"role {grant.role} {'created' if grant.created else 'updated'}: LOGIN, password from "
        f"$SOLEFLIP_READONLY_PASSWORD, CONNECT on database {grant.database}"
    )
    print(f"  SELECT on the {grant.relations} tables and views in schema analytics")
    print(f"  and on every view {grant.owner} creates there later (default privileges)")
    print(f"  nothing on {', '.join(private_schemas())}")
    return 0


def run_create_refresh_role(args: argparse.Namespace) -> int:
    password = refresh_password(args.role)
    with connect() as conn:
        role = create_refresh_role(conn, args.role, password)
    print(
        f"role {role.role} {'created' if role.created else 'updated'}: LOGIN, password from "
        f"$SOLEFLIP_REFRESH_PASSWORD, CONNECT and CREATE on database {role.database}"
    )
    print(f"  SELECT (nothing else) on the {role.source_tables} source tables")
    print(f"  owner of schemas analytics and soleflip_bi and their {role.owned_objects} objects")
    print(f"  {role.default_privileges} default privileges in analytics copied to it")
    print(f"  refresh with SOLEFLIP_DATABASE_URL=postgresql://{role.role}:...@host/{role.database}")
    return 0


def _demo_loaded(conn) -> bool:
    row = conn.execute("select to_regclass('public.soleflip_demo_load') is not null").fetchone()
    return bool(row and row[0])
