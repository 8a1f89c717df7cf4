"""``soleflip-bi views``: status, plan, refresh (as recorded Dagster runs) and drop.

A refresh that would find nothing to do (``views/materialize.nothing_to_refresh``) says
so and starts no run: the views and their checks are as the last run left them.
"""

from __future__ import annotations

import argparse
import json

from soleflip_bi.cli.lazy import dagster_side
from soleflip_bi.database.connection import check_reachable, connect, resolve_database_url
from soleflip_bi.metabase.client import MetabaseError
from soleflip_bi.metabase.config import metabase_configured
from soleflip_bi.metabase.questions import Questions, configured_questions
from soleflip_bi.metabase.versions import UnsupportedMetabase
from soleflip_bi.views.dictionary import render_dictionary
from soleflip_bi.views.materialize import (
    RefreshMode,
    drop_view,
    nothing_to_refresh,
    planned_refresh,
    view_columns,
)
from soleflip_bi.views.pg_cron import scheduled_elsewhere, unseen_jobs_note
from soleflip_bi.views.plan import ViewPlan, plan_view
from soleflip_bi.views.readers import (
    FORCE_TAG,
    Break,
    BreaksQuestions,
    breaks,
    refusal,
    registry_columns,
)
from soleflip_bi.views.registry import VIEWS, Tier, ViewSpec, get_view, views_in_tier
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
    refresh.add_argument(
        "--always-run", action="store_true", help="start a Dagster run even when nothing changed"
    )
    refresh.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="give up after waiting this long for earlier refresh runs that are still alive "
        "(default 1200: longer than a refresh's statement timeout); runs whose processes "
        "died are failed, never waited for",
    )
    refresh.add_argument(
        "--force",
        action="store_true",
        help="rebuild even views whose change breaks saved Metabase questions (named first)",
    )
    refresh.set_defaults(run=run_refresh)

    plan = sub.add_parser(
        "plan",
        help="what a refresh of this registry would create, rebuild or leave alone "
        "(exit 0: nothing, 2: changes pending, 1: error)",
    )
    plan.add_argument("name", nargs="?", help="one registered view (default: all)")
    plan.add_argument(
        "--diff",
        action="store_true",
        help="build each view to rebuild under a temporary name and compare it with the "
        "live one, key by key (as costly as the rebuild; rolled back)",
    )
    plan.set_defaults(run=run_plan, error_status=1)

    drop = sub.add_parser("drop", help="drop one registered view")
    drop.add_argument("name")
    drop.add_argument(
        "--force", action="store_true", help="drop it even though Metabase questions read it"
    )
    drop.set_defaults(run=run_drop)

    dictionary = sub.add_parser(
        "dictionary", help="every column's meaning, as docs/DATA_DICTIONARY.md (Markdown)"
    )
    dictionary.set_defaults(run=print_dictionary)


def print_dictionary(_args: argparse.Namespace) -> int:
    print(render_dictionary(), end="")
    return 0


def show_status(args: argparse.Namespace) -> int:
    specs = [get_view(args.name)] if args.name else list(VIEWS)
    with connect() as conn:
        cron, site = scheduled_elsewhere(conn)
        statuses = [view_status(conn, spec, cron) for spec in specs]
        cron_note = unseen_jobs_note(conn, site)
    if args.json:
        print(json.dumps([s.as_dict() for s in statuses], indent=2))
        return 0
    print(f"{'view':<32} {'tier':<7} {'rows':>9} {'size':>9}  {'up to date':<10} last refresh")
    for s in statuses:
        rows = "missing" if not s.exists else f"{s.row_count or 0:,}"
        size = f"{(s.size_bytes or 0) / 1024:,.0f} kB" if s.exists else ""
        current = (
            "yes" if s.definition_up_to_date and not s.drift and not s.scheduled_outside else "no"
        )
        last = f"{s.last_refresh} ({s.last_refresh_mode})" if s.last_refresh else "never"
        print(f"{s.view_name:<32} {s.tier:<7} {rows:>9} {size:>9}  {current:<10} {last}")
        for finding in s.drift + s.scheduled_outside:
            print(f"  drift: {finding}")
        if s.descriptions_pending:
            print(
                f"  descriptions: {len(s.descriptions_pending)} differ from the registry "
                f"({_named(s.descriptions_pending)}); the next refresh sets them in place"
            )
    drifted = [s.view_name for s in statuses if s.drift]
    if drifted:
        print(
            f"{len(drifted)} view(s) differ from the registry; the next refresh of each "
            "rebuilds it from the registry"
        )
    outside = [s.view_name for s in statuses if s.scheduled_outside]
    if outside:
        print(
            f"{len(outside)} view(s) are also refreshed by pg_cron, racing soleflip-bi's "
            "refreshes; `soleflip-bi migrate pg-cron` shows the jobs"
        )
    if cron_note:
        print(cron_note)
    return 0


def run_plan(args: argparse.Namespace) -> int:
    specs = [get_view(args.name)] if args.name else list(VIEWS)
    with connect() as conn:
        plans = [plan_view(conn, spec, with_diff=args.diff) for spec in specs]
        live = {p.view: view_columns(conn, p.view) for p in plans if p.action == "rebuild"}
    questions, note = _questions()
    print(f"{'view':<32} {'plan':<10} {'last build':>10}")
    broken: list[Break] = []
    for plan in plans:
        print(_plan_line(plan))
        for detail in _plan_details(plan):
            print(f"  {detail}")
        if questions is not None and plan.view in live:
            found = breaks(
                questions, plan.view, live[plan.view], registry_columns(get_view(plan.view))
            )
            broken += found
            for b in found:
                print(f"  breaks {b.line()}")
    if note:
        print(note)
    if questions is not None:
        print(_questions_summary(questions, broken))
    pending = [p for p in plans if p.pending]
    print(f"{len(pending)} of {len(plans)} view(s) would be created or rebuilt")
    return 2 if pending else 0


def _questions() -> tuple[Questions | None, str | None]:
    """The saved Metabase questions, or None and the one line that says why not."""
    if not metabase_configured():
        return (
            None,
            "METABASE_URL is not set: the Metabase questions that read the views are not checked",
        )
    try:
        return configured_questions(), None
    except (MetabaseError, UnsupportedMetabase, ValueError) as error:
        return None, f"the Metabase questions that read the views are not checked: {error}"


def _questions_summary(questions: Questions, broken: list[Break]) -> str:
    reading = len(questions.found)
    line = f"{reading} saved Metabase question(s) read the views"
    if broken:
        names = len({b.question.id for b in broken})
        line += f"; {names} would break: `views refresh` refuses those rebuilds without --force"
    for question in questions.unreadable:
        line += f"\n  not read: {question.label}: {question.unreadable}"
    for reason in questions.skipped:
        line += f"\n  {reason}"
    return line


def _plan_line(plan: ViewPlan) -> str:
    cost = f"{plan.last_build_seconds:.2f} s" if plan.last_build_seconds is not None else "-"
    return f"{plan.view:<32} {plan.action:<10} {cost:>10}"


def _plan_details(plan: ViewPlan) -> list[str]:
    details = [f"because {reason}" for reason in plan.reasons]
    details += [f"created again with it: {label}" for label in plan.dependents if plan.pending]
    if plan.diff is not None:
        d = plan.diff
        details.append(
            f"diff: {d.live_rows:,} rows live, {d.new_rows:,} rebuilt; keys {d.added:,} added, "
            f"{d.removed:,} removed, {d.changed:,} changed"
        )
        if d.columns_added or d.columns_removed:
            details.append(
                f"columns added: {', '.join(d.columns_added) or '-'}; "
                f"removed: {', '.join(d.columns_removed) or '-'}"
            )
    return details


def selected_views(args: argparse.Namespace) -> list[ViewSpec]:
    if args.all:
        return list(VIEWS)
    if args.tier:
        return views_in_tier(Tier(args.tier))
    return [get_view(args.name)]


def run_refresh(args: argparse.Namespace) -> int:
    specs = selected_views(args)
    if not args.always_run:
        check_reachable(resolve_database_url())  # one sentence, and no run, if it is not
        with connect() as conn:
            current = nothing_to_refresh(conn, specs)
        if current is not None:
            for result in current:
                print(f"{result.view:<32} {'current':<10} {result.row_count:>9,} rows")
            print(
                f"nothing changed since the last refresh of these {len(specs)} view(s): "
                "no Dagster run started (--always-run starts one anyway)"
            )
            return 0
    if not args.force:
        _refuse_breaking_rebuilds(specs)
    tags = {FORCE_TAG: "true"} if args.force else None
    return dagster_side().run_refresh(specs, wait_seconds=args.wait, tags=tags)


def _refuse_breaking_rebuilds(specs: list[ViewSpec]) -> None:
    """Raise ``BreaksQuestions`` before any run when a rebuild of ``specs`` would break a
    saved Metabase question (the run itself checks again, as every run does)."""
    if not metabase_configured():
        return
    with connect() as conn:
        rebuilt = {}
        for spec in specs:
            _state, mode, _drifted = planned_refresh(conn, spec)
            if mode is RefreshMode.REBUILD:
                rebuilt[spec.name] = view_columns(conn, spec.name)
        conn.rollback()
    if not rebuilt:
        return
    questions = configured_questions()
    if questions is None:
        return
    found = [
        b
        for spec in specs
        if spec.name in rebuilt
        for b in breaks(questions, spec.name, rebuilt[spec.name], registry_columns(spec))
    ]
    if found:
        raise BreaksQuestions(refusal(found, "pass --force"))


def run_drop(args: argparse.Namespace) -> int:
    spec = get_view(args.name)
    with connect() as conn:
        if not args.force and metabase_configured():
            live = view_columns(conn, spec.name)
            conn.rollback()  # no transaction held while Metabase is asked
            questions = configured_questions()
            found = breaks(questions, spec.name, live, None) if questions and live else []
            if found:
                raise BreaksQuestions(refusal(found, "pass --force", verb="dropping"))
        existed = drop_view(conn, spec)
    print(f"dropped {spec.name}" if existed else f"{spec.name} did not exist")
    return 0


def _named(names: list[str], shown: int = 3) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")
