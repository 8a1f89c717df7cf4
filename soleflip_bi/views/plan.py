"""What a deploy of the checked-out registry would do to the live views, before it runs.

Per view: created (missing), rebuilt (its definition changed, or it differs from the
registry by hand), or left alone (its refresh only brings in new data); the views and
materialized views of anyone's that read it and would be created again with it; and what
its last build took, as the expected cost. ``diff`` builds each view to be created or
rebuilt under a temporary name in a transaction that is rolled back, and compares it with
the live view key by key. Nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA
from soleflip_bi.views.dependents import dependents
from soleflip_bi.views.materialize import RefreshMode, planned_refresh, qualified, view_columns
from soleflip_bi.views.registry import ViewSpec

PLAN_SUFFIX = "__plan"


@dataclass(frozen=True)
class KeyDiff:
    live_rows: int
    new_rows: int
    added: int
    removed: int
    changed: int  # keys in both whose values (in the columns both have) differ
    columns_added: tuple[str, ...]
    columns_removed: tuple[str, ...]


@dataclass(frozen=True)
class ViewPlan:
    view: str
    action: str  # create, rebuild or unchanged
    reasons: tuple[str, ...]
    dependents: tuple[str, ...]
    last_build_seconds: float | None
    diff: KeyDiff | None = field(default=None)

    @property
    def pending(self) -> bool:
        return self.action != "unchanged"


def plan_view(conn: psycopg.Connection, spec: ViewSpec, with_diff: bool = False) -> ViewPlan:
    """The plan of one view; the connection's transaction is rolled back afterwards."""
    try:
        state, mode, drifted = planned_refresh(conn, spec)
        if mode is RefreshMode.CREATE:
            action, reasons = "create", ("it does not exist",)
        elif mode is RefreshMode.REBUILD:
            action = "rebuild"
            reasons = tuple(drifted) or (
                f"definition changed: {state.definition_hash} -> {spec.definition_hash}",
            )
        else:
            action, reasons = "unchanged", ()
        relation = f"{ANALYTICS_SCHEMA}.{spec.name}"
        kept = tuple(d.label for d in dependents(conn, relation)) if state.exists else ()
        diff = _diff(conn, spec) if with_diff and action == "rebuild" else None
        return ViewPlan(spec.name, action, reasons, kept, _last_build(conn, spec.name), diff)
    finally:
        conn.rollback()


def _last_build(conn: psycopg.Connection, name: str) -> float | None:
    if not conn.execute("select to_regclass('soleflip_bi.refresh_log') is not null").fetchone()[0]:
        return None
    row = conn.execute(
        "select extract(epoch from finished_at - started_at) from soleflip_bi.refresh_log "
        "where view_name = %s and mode in ('create', 'rebuild', 'swap') "
        "order by id desc limit 1",
        (name,),
    ).fetchone()
    return float(row[0]) if row else None


def _diff(conn: psycopg.Connection, spec: ViewSpec) -> KeyDiff:
    """Build the registry's definition beside the live view (rolled back by the caller)
    and count the keys of the grain added, removed and changed."""
    new = spec.name + PLAN_SUFFIX
    conn.execute(
        sql.SQL("create materialized view {} as {} with data").format(
            qualified(new),
            sql.SQL(spec.sql.strip().rstrip(";")),  # trusted project file
        )
    )
    live_columns = [name for name, _ in view_columns(conn, spec.name)]
    new_columns = [name for name, _ in view_columns(conn, new)]
    shared = [c for c in new_columns if c in live_columns and c not in spec.grain]
    key = sql.SQL(", ").join(sql.Identifier(c) for c in spec.grain)
    values = sql.SQL("row({})").format(sql.SQL(", ").join(sql.Identifier(c) for c in shared))
    row = conn.execute(
        sql.SQL(
            """
            select (select count(*) from {live}), (select count(*) from {new}),
                   count(*) filter (where l.k is null),
                   count(*) filter (where n.k is null),
                   count(*) filter (where l.k is not null and n.k is not null
                                    and l.v is distinct from n.v)
            from (select row({key}) k, {values} v from {new}) n
            full join (select row({key}) k, {values} v from {live}) l on l.k = n.k
            """
        ).format(live=qualified(spec.name), new=qualified(new), key=key, values=values)
    ).fetchone()
    return KeyDiff(
        *map(int, row),
        columns_added=tuple(c for c in new_columns if c not in live_columns),
        columns_removed=tuple(c for c in live_columns if c not in new_columns),
    )
