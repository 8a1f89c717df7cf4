"""``soleflip-bi views``: status, refresh (as recorded Dagster runs) and drop."""

from __future__ import annotations

import argparse
import json
import logging

import dagster as dg

from soleflip_bi.dashboards.assets import METABASE_DASHBOARDS_KEY
from soleflip_bi.database.connection import check_reachable, connect, resolve_database_url
from soleflip_bi.definitions import defs
from soleflip_bi.instance import prepare_dagster_environment
from soleflip_bi.sources.observe import observe_all
from soleflip_bi.views.materialize import drop_view
from soleflip_bi.views.registry import VIEWS, Tier, ViewSpec, get_view, views_in_tier
from soleflip_bi.views.runs import RefreshFailed, refresh_views
from soleflip_bi.views.status import view_status


def register(commands: argparse._SubParsersAction) -> None:
    views = commands.add_parser("views", help="the analytics views")
    sub = views.add_subparsers(dest="action", required=True)

    status = sub.add_parser("status", help="state of every view (or one)")
    status.add_argument("name", nargs="?", help="one registered view")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(run=show_status)

    refresh = sub.add_parser("refresh", help="create or refresh views through Dagster")
    target = refresh.add_mutually_exclusive_group(required=True)
    target.add_argument("name", nargs="?", help="one registered view")
    target.add_argument("--tier", choices=[t.value for t in Tier])
    target.add_argument("--all", action="store_true")
    refresh.set_defaults(run=run_refresh)

    drop = sub.add_parser("drop", help="drop one registered view")
    drop.add_argument("name")
    drop.set_defaults(run=run_drop)


def show_status(args: argparse.Namespace) -> int:
    specs = [get_view(args.name)] if args.name else list(VIEWS)
    with connect() as conn:
        statuses = [view_status(conn, spec) for spec in specs]
    if args.json:
        print(json.dumps([s.as_dict() for s in statuses], indent=2))
        return 0
    print(f"{'view':<32} {'tier':<7} {'rows':>9} {'size':>9}  {'up to date':<10} last refresh")
    for s in statuses:
        rows = "missing" if not s.exists else f"{s.row_count or 0:,}"
        size = f"{(s.size_bytes or 0) / 1024:,.0f} kB" if s.exists else ""
        current = "yes" if s.definition_up_to_date else "no"
        last = f"{s.last_refresh} ({s.last_refresh_mode})" if s.last_refresh else "never"
        print(f"{s.view_name:<32} {s.tier:<7} {rows:>9} {size:>9}  {current:<10} {last}")
    return 0


def selected_views(args: argparse.Namespace) -> list[ViewSpec]:
    if args.all:
        return list(VIEWS)
    if args.tier:
        return views_in_tier(Tier(args.tier))
    return [get_view(args.name)]


def run_refresh(args: argparse.Namespace) -> int:
    specs = selected_views(args)
    result = refresh_in_dagster(specs)
    for spec in specs:
        events = result.asset_materializations_for_node("refresh_" + spec.name)
        for event in events:
            meta = event.metadata
            print(
                f"{spec.name:<32} {meta['refresh_mode'].value:<10} "
                f"{meta['dagster/row_count'].value:>9,} rows "
                f"{meta['duration_seconds'].value:7.2f} s"
            )
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    for evaluation in failed:
        print(f"check failed: {evaluation.asset_key.to_user_string()} {evaluation.check_name}")
    print(f"Dagster run {result.run_id}: {'succeeded' if result.success else 'failed'}")
    return 0 if result.success else 1


def refresh_in_dagster(
    specs: list[ViewSpec], also: dg.AssetSelection | None = None
) -> dg.ExecuteInProcessResult:
    check_reachable(resolve_database_url())  # one sentence, and no run, if it is not
    prepare_dagster_environment()
    logging.getLogger("dagster").setLevel(logging.WARNING)
    with dg.DagsterInstance.get() as instance:
        result = refresh_views(defs, specs, instance, also=also)
    if not result.success:
        raise RefreshFailed(f"refresh run {result.run_id} failed; see the Dagster UI")
    return result


def refresh_everything() -> None:
    """Build everything the graph holds (used by `soleflip-bi demo`): observe every source
    table, then in one run the cleaned layer, all views and the dashboards (exported
    without a Metabase), so that nothing in the UI is "never materialized"."""
    prepare_dagster_environment()
    with dg.DagsterInstance.get() as instance, connect() as conn:
        for observation in observe_all(conn):  # first: the build then reads these versions
            instance.report_runless_asset_event(observation)
    dashboards = dg.AssetSelection.assets(METABASE_DASHBOARDS_KEY)
    result = refresh_in_dagster(list(VIEWS), also=dashboards)
    print(f"all {len(VIEWS)} views and the dashboards built (Dagster run {result.run_id})")


def run_drop(args: argparse.Namespace) -> int:
    spec = get_view(args.name)
    with connect() as conn:
        existed = drop_view(conn, spec)
    print(f"dropped {spec.name}" if existed else f"{spec.name} did not exist")
    return 0
