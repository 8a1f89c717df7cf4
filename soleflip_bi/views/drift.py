"""Whether a live view is what the registry says: its kind, query, indexes and comments.

Hand-made changes (an index dropped, a view replaced by a DBA) are found by comparing the
live relation with the registry entry: the query as PostgreSQL deparses it against the
registry's SQL deparsed the same way (a temporary view, discarded at once), the record of
the build that made it (``definitions.py``), and each index's columns, order, uniqueness
and partiality. A view that drifted is rebuilt by its next refresh, which repairs it.

Descriptions are not drift: a comment that differs from the registry (edited by hand, or
a description corrected in a ``.columns.toml``) is put back in place by the next refresh,
which rebuilds nothing for it (``description_drift``).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from soleflip_bi.database.comments import live_column_comments, live_relation_comment
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA
from soleflip_bi.views.definitions import built_from
from soleflip_bi.views.registry import Index, ViewSpec

KIND_NAMES = {"r": "table", "v": "view", "m": "materialized view", "p": "table"}
PROBE = "soleflip_bi_drift_probe"


def drift(conn: psycopg.Connection, spec: ViewSpec) -> list[str]:
    """What differs between the live view and the registry, one finding per line; empty
    when they agree or the view does not exist yet. Changes nothing."""
    relation = f"{ANALYTICS_SCHEMA}.{spec.name}"
    row = conn.execute(
        "select relkind from pg_class where oid = to_regclass(%s)", (relation,)
    ).fetchone()
    if row is None:
        return []
    kind = row[0]
    if kind != "m":
        return [f"{relation} is a {KIND_NAMES.get(kind, kind)}, not a materialized view"]
    built = built_from(conn, spec.name)
    if built is None:
        return [f"{relation} was not built by soleflip-bi (made by hand?)"]
    if built.definition_hash != spec.definition_hash:
        return []  # built from an older registry: a definition change, rebuilt by design
    found = []
    if _live_query(conn, relation) != _registry_query(conn, spec):
        found.append("its query is not the registry's SQL (replaced by hand?)")
    return found + _index_drift(conn, spec, relation)


def description_drift(conn: psycopg.Connection, spec: ViewSpec) -> list[str]:
    """Which of the view's descriptions differ from the registry ("the view" for its own
    comment, else column names); the next refresh applies them in place."""
    if live_relation_comment(conn, ANALYTICS_SCHEMA, spec.name) != spec.description:
        differ = ["the view"]
    else:
        differ = []
    live = live_column_comments(conn, ANALYTICS_SCHEMA, spec.name)
    return differ + [
        c.name for c in spec.columns if c.name in live and live[c.name] != c.description
    ]


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
