"""Create, refresh or redefine one materialized view, without readers ever noticing.

* missing                    -> create it with its indexes;
* definition hash changed    -> build the new one under a temporary name and swap it in
                                inside one transaction (grants are carried over);
* populated, unique index    -> ``REFRESH ... CONCURRENTLY`` (readers keep reading);
* otherwise                  -> plain ``REFRESH``;
* nothing it reads changed   -> skipped: no work in PostgreSQL (``bookkeeping/baseline.py``).

Descriptions (the view's comment, its columns' comments) are not part of the definition:
whatever the mode, skipped included, a description that differs from the registry is set
in place with ``COMMENT ON`` (``database/comments.py``), so correcting one rebuilds nothing.

Every path runs in one transaction behind a per-view advisory lock, so two refreshes of a
view never overlap and a failure (timeout, killed backend, bad SQL) rolls back to the
previous, still readable contents.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import psycopg
from psycopg import sql

from soleflip_bi.bookkeeping.baseline import (
    current_baseline,
    ensure_bookkeeping,
    last_snapshot,
    record_refresh,
    unchanged_since_last_refresh,
)
from soleflip_bi.bookkeeping.locks import holding, lock_key, reading_facts
from soleflip_bi.cleaned.facts import FACTS_NAME, facts_current
from soleflip_bi.cleaned.layer import cleaned_layer_current
from soleflip_bi.database.comments import comment_on_columns, comment_on_relation
from soleflip_bi.database.tuning import apply_refresh_settings
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA
from soleflip_bi.shared.settings import refresh_log_retention_days
from soleflip_bi.views.definitions import built_from, forget_build, record_build
from soleflip_bi.views.dependents import dependents, recreate
from soleflip_bi.views.dependents import drop as drop_dependents
from soleflip_bi.views.drift import description_drift, drift
from soleflip_bi.views.registry import Index, ViewSpec

BUILD_SUFFIX = "__build"
# How long the final swap may wait for readers; on timeout the refresh is retried later.
SWAP_LOCK_TIMEOUT = "3s"


class RefreshMode(StrEnum):
    SKIPPED = "skipped"  # nothing the view reads changed: no work at all
    CREATE = "create"
    REBUILD = "rebuild"
    CONCURRENT = "concurrent"
    SWAP = "swap"  # same definition, rebuilt beside the old one (ViewSpec.swap_refresh)
    PLAIN = "plain"


@dataclass(frozen=True)
class ViewState:
    exists: bool
    populated: bool = False
    definition_hash: str | None = None
    indexes: tuple[str, ...] = ()
    kind: str = "m"  # pg_class.relkind: "v" when someone put a plain view in its place


@dataclass(frozen=True)
class RefreshResult:
    view: str
    mode: RefreshMode
    seconds: float
    row_count: int
    size_bytes: int
    definition_hash: str
    indexes: tuple[str, ...]
    columns: tuple[tuple[str, str], ...] = field(default=())
    inspection: object = None
    drift: tuple[str, ...] = ()  # what differed from the registry before this refresh
    # descriptions set in place by this refresh ("the view" or column names)
    described: tuple[str, ...] = ()


def qualified(name: str) -> sql.Identifier:
    return sql.Identifier(ANALYTICS_SCHEMA, name)


def read_state(conn: psycopg.Connection, name: str) -> ViewState:
    row = conn.execute(
        """
        select c.relkind, coalesce(m.ispopulated, true),
               array(select i.relname from pg_index x join pg_class i on i.oid = x.indexrelid
                     where x.indrelid = c.oid order by i.relname)
        from pg_class c
        left join pg_matviews m on m.schemaname = %s and m.matviewname = c.relname
        where c.oid = to_regclass(%s) and c.relkind in ('m', 'v')
        """,
        (ANALYTICS_SCHEMA, f"{ANALYTICS_SCHEMA}.{name}"),
    ).fetchone()
    if row is None:
        return ViewState(exists=False)
    kind, populated, indexes = row
    built = built_from(conn, name)
    stored_hash = built.definition_hash if built else None
    return ViewState(True, bool(populated), stored_hash, tuple(indexes), kind)


def choose_mode(spec: ViewSpec, state: ViewState) -> RefreshMode:
    if not state.exists:
        return RefreshMode.CREATE
    expected_indexes = {index.name for index in spec.indexes}
    if (
        state.kind != "m"
        or state.definition_hash != spec.definition_hash
        or not expected_indexes <= set(state.indexes)
    ):
        return RefreshMode.REBUILD
    if not state.populated:
        return RefreshMode.PLAIN
    return RefreshMode.SWAP if spec.swap_refresh else RefreshMode.CONCURRENT


def planned_refresh(
    conn: psycopg.Connection, spec: ViewSpec
) -> tuple[ViewState, RefreshMode, tuple[str, ...]]:
    """The view's state, the refresh it needs, and how it differs from the registry: a
    hand-made change (an index dropped, the query replaced) is repaired by building the
    view again from the registry."""
    state = read_state(conn, spec.name)
    mode = choose_mode(spec, state)
    drifted = tuple(drift(conn, spec)) if state.exists else ()
    if drifted and mode in (RefreshMode.PLAIN, RefreshMode.CONCURRENT, RefreshMode.SWAP):
        mode = RefreshMode.REBUILD
    return state, mode, drifted


def materialize_view(
    conn: psycopg.Connection,
    spec: ViewSpec,
    inspect: Callable[[psycopg.Connection], object] | None = None,
    before_rebuild: Callable[[ViewSpec, tuple[tuple[str, str], ...]], None] | None = None,
) -> RefreshResult:
    """Bring ``spec`` up to date in the database; see the module docstring.

    The transaction is REPEATABLE READ, so the refresh and ``inspect`` (the asset checks)
    see one snapshot: a check compares the view with exactly the data it was built from,
    however many orders arrive meanwhile. The view reads the stored facts as they are:
    maintaining them (``cleaned/facts.py``) is the cleaned layer's step, before this one.
    ``before_rebuild`` hears the live columns of a view about to be rebuilt, and may raise
    to stop it (``views/readers.py``); nothing has changed then.
    """
    refresh_log_retention_days()  # a bad setting stops the refresh before it starts
    ensure_bookkeeping(conn)
    conn.commit()
    started = time.perf_counter()
    with reading_facts(conn), holding(conn, lock_key(spec.name)):
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            apply_refresh_settings(conn)
            state, mode, drifted = planned_refresh(conn, spec)
            # The stored facts are as old as their last rebuild: that is what this view
            # reads, so that is the baseline it records.
            baseline = current_baseline(conn, last_snapshot(conn, FACTS_NAME))
            kept = mode in (RefreshMode.CONCURRENT, RefreshMode.SWAP) and (
                unchanged_since_last_refresh(conn, spec.name, spec.definition_hash, baseline)
            )
            described = ()
            if kept or mode in (RefreshMode.PLAIN, RefreshMode.CONCURRENT):
                described = describe_in_place(conn, spec)
            if kept:
                return _skipped(conn, spec, time.perf_counter() - started, described)
            if mode is RefreshMode.REBUILD and before_rebuild is not None:
                before_rebuild(spec, view_columns(conn, spec.name))
            _apply(conn, spec, mode, state.kind)
            row_count = _row_count(conn, spec.name)
            record_refresh(conn, spec.name, mode.value, spec.definition_hash, row_count, baseline)
            inspection = inspect(conn) if inspect is not None else None
    return RefreshResult(
        view=spec.name,
        mode=mode,
        seconds=time.perf_counter() - started,
        row_count=row_count,
        size_bytes=_size_bytes(conn, spec.name),
        definition_hash=spec.definition_hash,
        indexes=read_state(conn, spec.name).indexes,
        columns=view_columns(conn, spec.name),
        inspection=inspection,
        drift=drifted,
        described=described,
    )


def describe_in_place(conn: psycopg.Connection, spec: ViewSpec) -> tuple[str, ...]:
    """Set the view's and its columns' comments where they differ from the registry, and
    record the build of a view an older release marked in its comment; return what was
    set ("the view", column names)."""
    built = built_from(conn, spec.name)
    if built is not None and not built.recorded and built.definition_hash == spec.definition_hash:
        record_build(conn, spec.name, spec.name, spec.definition_hash)
    described = (
        ("the view",)
        if comment_on_relation(conn, ANALYTICS_SCHEMA, spec.name, spec.description)
        else ()
    )
    return described + comment_on_columns(conn, ANALYTICS_SCHEMA, spec.name, spec.columns)


def nothing_to_refresh(
    conn: psycopg.Connection, specs: list[ViewSpec]
) -> list[RefreshResult] | None:
    """The last refresh of each view when a refresh of all of them now would do no work
    at all (same definitions, no source changed, same day), else None. Read-only: a
    caller can answer "up to date" without starting a run."""
    try:
        if not cleaned_layer_current(conn) or not facts_current(conn):
            return None
        baseline = current_baseline(conn, last_snapshot(conn, FACTS_NAME))
        results = []
        for spec in specs:
            _state, mode, _drifted = planned_refresh(conn, spec)
            if mode not in (RefreshMode.CONCURRENT, RefreshMode.SWAP):
                return None
            if not unchanged_since_last_refresh(conn, spec.name, spec.definition_hash, baseline):
                return None
            built = built_from(conn, spec.name)
            if built is None or not built.recorded or description_drift(conn, spec):
                return None  # a refresh has descriptions (or the record) to write
            results.append(_skipped(conn, spec, 0.0))
        return results
    finally:
        conn.rollback()


def drop_view(conn: psycopg.Connection, spec: ViewSpec) -> bool:
    """Drop a registered view; return whether it existed."""
    with conn.transaction():
        existed = read_state(conn, spec.name).exists
        conn.execute(sql.SQL("drop materialized view if exists {}").format(qualified(spec.name)))
        forget_build(conn, spec.name)
    return existed


def view_columns(conn: psycopg.Connection, name: str) -> tuple[tuple[str, str], ...]:
    rows = conn.execute(
        """
        select a.attname, format_type(a.atttypid, a.atttypmod)
        from pg_attribute a
        where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped
        order by a.attnum
        """,
        (f"{ANALYTICS_SCHEMA}.{name}",),
    ).fetchall()
    return tuple((column, data_type) for column, data_type in rows)


# -- internals ---------------------------------------------------------------------


def _apply(conn: psycopg.Connection, spec: ViewSpec, mode: RefreshMode, kind: str) -> None:
    if mode is RefreshMode.CREATE:
        _build(conn, spec, spec.name)
    elif mode in (RefreshMode.REBUILD, RefreshMode.SWAP):
        _swap(conn, spec, kind)
    elif mode is RefreshMode.CONCURRENT:
        conn.execute(
            sql.SQL("refresh materialized view concurrently {}").format(qualified(spec.name))
        )
    else:
        conn.execute(sql.SQL("refresh materialized view {}").format(qualified(spec.name)))


def _skipped(
    conn: psycopg.Connection, spec: ViewSpec, seconds: float, described: tuple[str, ...] = ()
) -> RefreshResult:
    """The result of a refresh that had nothing to do (figures from the last real one)."""
    row_count = conn.execute(
        "select row_count from soleflip_bi.refresh_log where view_name = %s "
        "order by id desc limit 1",
        (spec.name,),
    ).fetchone()[0]
    state = read_state(conn, spec.name)
    return RefreshResult(
        view=spec.name,
        mode=RefreshMode.SKIPPED,
        seconds=seconds,
        row_count=int(row_count),
        size_bytes=_size_bytes(conn, spec.name),
        definition_hash=spec.definition_hash,
        indexes=state.indexes,
        columns=view_columns(conn, spec.name),
        described=described,
    )


def _build(conn: psycopg.Connection, spec: ViewSpec, relation: str) -> None:
    """Create ``relation`` from the view's SQL, populated, with every index, the record of
    the build and the comments (a swap renames the copy, so they come with it)."""
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(ANALYTICS_SCHEMA)))
    conn.execute(
        sql.SQL("create materialized view {} as {} with data").format(
            qualified(relation),
            sql.SQL(spec.sql.strip().rstrip(";")),  # trusted project file
        )
    )
    for index in spec.indexes:
        conn.execute(index_ddl(index, relation, _index_name(index, relation, spec.name)))
    record_build(conn, spec.name, relation, spec.definition_hash)
    comment_on_relation(conn, ANALYTICS_SCHEMA, relation, spec.description)
    comment_on_columns(conn, ANALYTICS_SCHEMA, relation, spec.columns)


def _swap(conn: psycopg.Connection, spec: ViewSpec, kind: str = "m") -> None:
    """Build the new definition beside the old one, then swap names in this transaction.

    Readers keep reading the old view while the new one builds; the exclusive lock is
    taken only for the renames at the end, and readers waiting on it continue with the
    new view once we commit. Views and materialized views of anyone's that read the view
    are created again on the new one, as they were (``dependents.py``).
    """
    build = spec.name + BUILD_SUFFIX
    conn.execute(sql.SQL("drop materialized view if exists {}").format(qualified(build)))
    _build(conn, spec, build)
    grants = _grants(conn, spec.name)
    swapped = f"{ANALYTICS_SCHEMA}.{spec.name}"
    kept = dependents(conn, swapped)
    # Readers queue behind the exclusive lock the swap needs: never keep them waiting long.
    conn.execute("select set_config('lock_timeout', %s, true)", (SWAP_LOCK_TIMEOUT,))
    drop_dependents(conn, kept, swapped)
    replaced = sql.SQL("view" if kind == "v" else "materialized view")
    conn.execute(sql.SQL("drop {} {}").format(replaced, qualified(spec.name)))
    conn.execute(
        sql.SQL("alter materialized view {} rename to {}").format(
            qualified(build), sql.Identifier(spec.name)
        )
    )
    for index in spec.indexes:
        conn.execute(
            sql.SQL("alter index {} rename to {}").format(
                sql.Identifier(ANALYTICS_SCHEMA, _index_name(index, build, spec.name)),
                sql.Identifier(index.name),
            )
        )
    for grant in grants:
        conn.execute(grant)
    recreate(conn, kept, swapped)


def _index_name(index: Index, relation: str, view_name: str) -> str:
    return index.name if relation == view_name else f"{index.name}{BUILD_SUFFIX}"


def index_ddl(index: Index, relation: str, index_name: str) -> sql.Composed:
    """``create index`` for ``index`` on ``relation`` under ``index_name``."""
    order = sql.SQL(" desc") if index.descending else sql.SQL("")
    columns = sql.SQL(", ").join(sql.Identifier(c) + order for c in index.columns)
    unique = sql.SQL("unique ") if index.unique else sql.SQL("")
    where = sql.SQL(" where {}").format(sql.SQL(index.where)) if index.where else sql.SQL("")
    return sql.SQL("create {}index {} on {} ({}){}").format(
        unique, sql.Identifier(index_name), qualified(relation), columns, where
    )


def _grants(conn: psycopg.Connection, name: str) -> list[sql.Composed]:
    """The GRANT statements that recreate the privileges others hold on the view."""
    rows = conn.execute(
        """
        select case when a.grantee = 0 then 'public' else pg_get_userbyid(a.grantee) end,
               a.privilege_type
        from pg_class c
        cross join lateral aclexplode(c.relacl) a
        where c.oid = to_regclass(%s) and a.grantee <> c.relowner
        """,
        (f"{ANALYTICS_SCHEMA}.{name}",),
    ).fetchall()
    statements = []
    for grantee, privilege in rows:
        target = sql.SQL("public") if grantee == "public" else sql.Identifier(grantee)
        statements.append(
            sql.SQL("grant {} on {} to {}").format(
                sql.SQL(privilege),
                qualified(name),
                target,  # privilege from pg catalog
            )
        )
    return statements


def _row_count(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute(sql.SQL("select count(*) from {}").format(qualified(name))).fetchone()
    return int(row[0]) if row else 0


def _size_bytes(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute(
        "select pg_total_relation_size(to_regclass(%s))", (f"{ANALYTICS_SCHEMA}.{name}",)
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0
