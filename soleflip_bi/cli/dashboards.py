"""``soleflip-bi dashboards``: list, show, export and push the Metabase dashboards."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from soleflip_bi.dashboards.export import dashboard_document, export_dashboards
from soleflip_bi.dashboards.metadata_push import push_metadata, read_plan
from soleflip_bi.dashboards.provision import plan_dashboards, push_dashboards
from soleflip_bi.dashboards.sync import DEFAULT_SYNC_TIMEOUT_SECONDS
from soleflip_bi.dashboards.templates import DASHBOARDS, get_dashboard
from soleflip_bi.database.connection import resolve_database_url
from soleflip_bi.metabase.config import MetabaseConfig


def register(commands: argparse._SubParsersAction) -> None:
    dashboards = commands.add_parser("dashboards", help="the Metabase dashboards")
    sub = dashboards.add_subparsers(dest="action", required=True)

    listing = sub.add_parser("list", help="the dashboard templates")
    listing.add_argument("--json", action="store_true", help="every template as Metabase JSON")
    listing.set_defaults(run=run_list)

    show = sub.add_parser("show", help="one dashboard template: filters and cards")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="as Metabase JSON")
    show.set_defaults(run=run_show)

    export = sub.add_parser("export", help="write one Metabase JSON file per dashboard")
    export.add_argument("directory", type=Path)
    export.set_defaults(run=run_export)

    plan = sub.add_parser(
        "plan",
        help="what push would create, update or archive, and the fields that differ "
        "(exit 0: nothing to change, 2: changes pending, 1: error)",
    )
    plan.set_defaults(run=run_plan, error_status=1)

    push = sub.add_parser("push", help="provision the dashboards into Metabase (idempotent)")
    push.add_argument(
        "--force",
        action="store_true",
        help="overwrite managed objects that were edited in Metabase since the last push",
    )
    push.add_argument(
        "--sync-timeout",
        type=float,
        default=DEFAULT_SYNC_TIMEOUT_SECONDS,
        help="seconds to wait for Metabase to sync the analytics views",
    )
    push.set_defaults(run=run_push)

    metadata = sub.add_parser(
        "metadata",
        help="Metabase's data model from the registry: each view's and column's display "
        "name, description, semantic type and visibility",
    )
    steps = metadata.add_subparsers(dest="step", required=True)
    metadata_plan = steps.add_parser(
        "plan", help="what push would write (exit 0: nothing, 2: changes pending, 1: error)"
    )
    metadata_plan.set_defaults(run=run_metadata_plan, error_status=1)
    metadata_push = steps.add_parser("push", help="write what differs (idempotent)")
    metadata_push.add_argument(
        "--force", action="store_true", help="overwrite values edited in Metabase"
    )
    metadata_push.add_argument(
        "--sync-timeout",
        type=float,
        default=DEFAULT_SYNC_TIMEOUT_SECONDS,
        help="seconds to wait for Metabase to sync a view or column it does not know yet",
    )
    metadata_push.set_defaults(run=run_metadata_push)


def run_list(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps({d.name: dashboard_document(d) for d in DASHBOARDS}, indent=2))
        return 0
    for dashboard in DASHBOARDS:
        filters = ", ".join(f.name for f in dashboard.filters)
        print(
            f"{dashboard.name:<22} {len(dashboard.cards):>2} cards  {dashboard.title}  ({filters})"
        )
    return 0


def run_show(args: argparse.Namespace) -> int:
    dashboard = get_dashboard(args.name)
    if args.json:
        print(json.dumps(dashboard_document(dashboard), indent=2))
        return 0
    print(f"{dashboard.title} ({dashboard.name}): {dashboard.description}")
    for f in dashboard.filters:
        default = f", default {f.default}" if f.default else ""
        print(f"  filter {f.slug}: {f.name} ({f.kind.value}{default})")
    for card in dashboard.cards:
        layout = card.layout
        place = f"row {layout.row:>2} col {layout.col:>2} {layout.size_x}x{layout.size_y}"
        filters = ", ".join(card.filter_slugs) or "-"
        print(
            f"  {card.key:<26} {card.chart.display.value:<7} {place}  "
            f"{card.view}  filters: {filters}"
        )
    return 0


def run_export(args: argparse.Namespace) -> int:
    for path in export_dashboards(args.directory):
        print(path)
    return 0


def run_plan(args: argparse.Namespace) -> int:
    """Terraform's convention (``plan -detailed-exitcode``): 0 nothing to do, 2 changes
    pending, 1 an error, so that a deploy script can tell the three apart."""
    config = MetabaseConfig.from_env()
    plan = plan_dashboards(config, resolve_database_url())
    for change in plan.changes:
        if change.pending:
            print(f"  {change.line()}")
    print(f"{config.url}: {plan.summary()}")
    if plan.conflicts:
        print(
            f"{len(plan.conflicts)} of them overwrite edits made in Metabase since the last "
            "push: `dashboards push` refuses them, `dashboards push --force` overwrites"
        )
    return 2 if plan.pending else 0


def run_push(args: argparse.Namespace) -> int:
    config = MetabaseConfig.from_env()
    report = push_dashboards(
        config, resolve_database_url(), force=args.force, sync_timeout=args.sync_timeout
    )
    for line in report.progress.lines():
        print(f"  {line}")
    counts = report.progress.counts()
    print(
        f"{config.url} (Metabase {report.version}): {counts['created']} created, "
        f"{counts['updated']} updated, {counts['unchanged']} unchanged, "
        f"{counts['archived']} archived"
    )
    for name in report.dashboard_ids:
        print(f"  {name}: {report.dashboard_url(name)}")
    return 0


def run_metadata_plan(args: argparse.Namespace) -> int:
    config = MetabaseConfig.from_env()
    plan = read_plan(config, resolve_database_url())
    for change in plan.changes:
        print(f"  {change.line()}")
    print(
        f"{config.url}: {len(plan.pending)} table(s) and field(s) to write, "
        f"{len(plan.edited)} edited in Metabase (kept; --force overwrites), "
        f"{plan.unchanged} unchanged"
    )
    return 2 if plan.pending else 0


def run_metadata_push(args: argparse.Namespace) -> int:
    config = MetabaseConfig.from_env()
    report = push_metadata(
        config, resolve_database_url(), force=args.force, sync_timeout=args.sync_timeout
    )
    for line in report.progress.lines():
        if not line.startswith("found "):
            print(f"  {line}")
    print(
        f"{config.url} (Metabase {report.version}): {len(report.plan.pending)} written, "
        f"{len(report.plan.edited)} edited in Metabase and kept, "
        f"{report.plan.unchanged} unchanged"
    )
    return 0
