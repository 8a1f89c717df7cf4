"""What `views status` reports: the state of every registered view in the database."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import psycopg
from psycopg import sql

from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA
from soleflip_bi.views.drift import description_drift, drift
from soleflip_bi.views.materialize import qualified, read_state, view_columns
from soleflip_bi.views.pg_cron import CronPlan, outside_refreshes
from soleflip_bi.views.registry import ViewSpec


@dataclass(frozen=True)
class ViewStatus:
    view_name: str
    tier: str
    exists: bool
    populated: bool
    row_count: int | None
    size_bytes: int | None
    last_refresh: str | None
    last_refresh_mode: str | None
    indexes: list[str]
    definition_up_to_date: bool
    column_count: int
    drift: list[str]  # what differs from the registry (repaired by the next refresh)
    # descriptions that differ ("the view", column names): set in place by the next refresh
    descriptions_pending: list[str]
    # refreshes scheduled outside soleflip-bi (pg_cron jobs): drift no refresh repairs
    scheduled_outside: list[str]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def view_status(
    conn: psycopg.Connection, spec: ViewSpec, cron: CronPlan | None = None
) -> ViewStatus:
    """``cron``: the pg_cron jobs ``pg_cron.scheduled_elsewhere`` found, read once for
    every view."""
    state = read_state(conn, spec.name)
    rows = size = None
    if state.exists and state.populated:
        rows, size = conn.execute(
            sql.SQL(
                "select (select count(*) from {}), pg_total_relation_size(%s::regclass)"
            ).format(qualified(spec.name)),
            (f"{ANALYTICS_SCHEMA}.{spec.name}",),
        ).fetchone()
    last = _last_refresh(conn, spec.name)
    return ViewStatus(
        view_name=spec.name,
        tier=spec.tier.value,
        exists=state.exists,
        populated=state.populated,
        row_count=rows,
        size_bytes=size,
        last_refresh=last[0] if last else None,
        last_refresh_mode=last[1] if last else None,
        indexes=list(state.indexes),
        definition_up_to_date=state.exists and state.definition_hash == spec.definition_hash,
        column_count=len(view_columns(conn, spec.name)),
        drift=drift(conn, spec) if state.exists else [],
        descriptions_pending=description_drift(conn, spec) if state.exists else [],
        scheduled_outside=outside_refreshes(cron, spec.name),
    )


def _last_refresh(conn: psycopg.Connection, name: str) -> tuple[str, str] | None:
    if not conn.execute("select to_regclass('soleflip_bi.refresh_log') is not null").fetchone()[0]:
        return None
    row = conn.execute(
        "select finished_at::text, mode from soleflip_bi.refresh_log "
        "where view_name = %s order by id desc limit 1",
        (name,),
    ).fetchone()
    return (row[0], row[1]) if row else None
