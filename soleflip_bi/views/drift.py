"""Whether a live view is what the registry says: its kind, query, indexes and column
comments.

Hand-made changes (an index dropped, a view replaced by a DBA) are found by comparing the
live relation with the registry entry: the query as PostgreSQL deparses it against the
registry's SQL deparsed the same way (a temporary view, discarded at once), the marker of
the definition it was built from, and each index's columns, order, uniqueness and
partiality. A view that drifted is rebuilt by its next refresh, which repairs it.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from soleflip_bi.database.comments import live_column_comments
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA
from soleflip_bi.views.registry import Index, ViewSpec

COMMENT_PREFIX = "soleflip_bi definition "
KIND_NAMES = {"r": "table", "v": "view", "m": "materialized view", "p": "table"}
PROBE = "soleflip_bi_drift_probe"


def drift(conn: psycopg.Connection, spec: ViewSpec) -> list[str]:
    """What differs between the live view and the registry, one finding per line; empty
    when they agree or the view does not exist yet. Changes nothing."""
    relation = f"{ANALYTICS_SCHEMA}.{spec.name}"
    row = conn.execute(
        "select relkind, obj_description(oid, 'pg_class') from pg_class "
        "where oid = to_regclass(%s)",
        (relation,),
    ).fetchone()
    if row is None:
        return []
    kind, comment = row
    if kind != "m":
        return [f"{relation} is a {KIND_NAMES.get(kind, kind)}, not a materialized view"]
    if not (comment or "").startswith(COMMENT_PREFIX):
        return [f"{relation} carries no definition marker (made by hand?)"]
    if comment.removeprefix(COMMENT_PREFIX) != spec.definition_hash:
        return []  # built from an older registry: a definition change, rebuilt by design
    found = []
    if _live_query(conn, relation) != _registry_query(conn, spec):
        found.append("its query is not the registry's SQL (replaced by hand?)")
    return found + _index_drift(conn, spec, relation) + _comment_drift(conn, spec)


def _comment_drift(conn: psycopg.Connection, spec: ViewSpec) -> list[str]:
    live = live_column_comments(conn, ANALYTICS_SCHEMA, spec.name)
    changed = [c.name for c in spec.columns if live.get(c.name, "") != c.description]
    if not changed:
        return []
    named = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return [f"the comments of {len(changed)} column(s) are not the registry's: {named}"]


def _live_query(conn: psycopg.Connection, relation: str) -> str:
    return conn.execute("select pg_get_viewdef(%s::regclass)", (relation,)).fetchone()[0]


def _registry_query(conn: psycopg.Connection, spec: ViewSpec) -> str:
    """The registry's SQL as PostgreSQL deparses it, from a temporary view made and
    discarded inside a savepoint."""
    with conn.transaction(savepoint_name="drift_probe", force_rollback=True):
        conn.execute(
            sql.SQL("create temporary view {} as {}").format(
                sql.Identifier(PROBE),
                sql.SQL(spec.sql.strip().rstrip(";")),  # project file
            )
        )
        return conn.execute(
            "select pg_get_viewdef(c.oid) from pg_class c "
            "where c.relname = %s and c.relnamespace = pg_my_temp_schema()",
            (PROBE,),
        ).fetchone()[0]


def _index_drift(conn: psycopg.Connection, spec: ViewSpec, relation: str) -> list[str]:
    rows = conn.execute(
        """
        select i.relname, x.indisunique, x.indpred is not null,
               array(select a.attname::text
                     from unnest(x.indkey) with ordinality k(attnum, n)
                     join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum
                     order by k.n),
               array(select (o & 1) = 1 from unnest(x.indoption) o)
        from pg_index x join pg_class i on i.oid = x.indexrelid
        where x.indrelid = %s::regclass
        """,
        (relation,),
    ).fetchall()
    live = {row[0]: (row[1], row[2], tuple(row[3]), tuple(row[4])) for row in rows}
    found = []
    for index in spec.indexes:
        if index.name not in live:
            found.append(f"index {index.name} is missing")
        elif live[index.name] != _shape(index):
            found.append(f"index {index.name} is not defined as in the registry")
    for name in sorted(set(live) - {index.name for index in spec.indexes}):
        found.append(f"index {name} is not in the registry (the next rebuild drops it)")
    return found


def _shape(index: Index) -> tuple[bool, bool, tuple[str, ...], tuple[bool, ...]]:
    return (
        index.unique,
        index.where is not None,
        tuple(index.columns),
        tuple(index.descending for _ in index.columns),
    )
