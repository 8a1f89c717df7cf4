"""Comments: PostgreSQL's own place for what a relation and its columns mean, where SQL
clients and Metabase (as far as its sync reads them, README "Every column explains
itself") find it.

Comments are applied in place, only where the live text differs: ``COMMENT ON`` is cheap
and transactional, so a corrected description never rebuilds anything, and a comment
someone changed by hand is put back by the next refresh without touching the data.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from soleflip_bi.shared.columns import Column

# COMMENT ON's keyword per pg_class.relkind.
KIND_KEYWORDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view"}


def comment_on_columns(
    conn: psycopg.Connection, schema: str, relation: str, columns: tuple[Column, ...]
) -> tuple[str, ...]:
    """Set the comment of every documented column ``schema.relation`` has whose live
    comment differs (in the caller's transaction); return the columns changed. COMMENT
    takes no parameters, so the text goes in as a quoted literal. A documented column the
    relation lacks is left to the tests, which compare the two: a build never fails over
    a description."""
    present = live_column_comments(conn, schema, relation)
    changed = []
    for column in columns:
        if column.name not in present or present[column.name] == column.description:
            continue
        conn.execute(
            sql.SQL("comment on column {}.{} is {}").format(
                sql.Identifier(schema, relation),
                sql.Identifier(column.name),
                sql.Literal(column.description),
            )
        )
        changed.append(column.name)
    return tuple(changed)


def comment_on_relation(
    conn: psycopg.Connection, schema: str, relation: str, description: str
) -> bool:
    """Set the comment of ``schema.relation`` when it differs; return whether it did."""
    row = conn.execute(
        "select relkind, coalesce(obj_description(oid, 'pg_class'), '') from pg_class "
        "where oid = to_regclass(%s)",
        (f"{schema}.{relation}",),
    ).fetchone()
    if row is None or row[1] == description:
        return False
    conn.execute(
        sql.SQL("comment on {} {} is {}").format(
            sql.SQL(KIND_KEYWORDS[row[0]]),
            sql.Identifier(schema, relation),
            sql.Literal(description),
        )
    )
    return True


def live_column_comments(conn: psycopg.Connection, schema: str, relation: str) -> dict[str, str]:
    """Column -> comment of ``schema.relation`` as the database holds them ('' for none)."""
    rows = conn.execute(
        """
        select a.attname, coalesce(col_description(a.attrelid, a.attnum), '')
        from pg_attribute a
        where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped
        order by a.attnum
        """,
        (f"{schema}.{relation}",),
    ).fetchall()
    return dict(rows)


def live_relation_comment(conn: psycopg.Connection, schema: str, relation: str) -> str:
    """The comment of ``schema.relation`` ('' for none or no such relation)."""
    row = conn.execute(
        "select coalesce(obj_description(to_regclass(%s), 'pg_class'), '')",
        (f"{schema}.{relation}",),
    ).fetchone()
    return row[0]
