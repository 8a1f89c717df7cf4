"""Column comments: PostgreSQL's own place for what a column means, where SQL clients and
Metabase (as far as its sync reads them, README "Every column explains itself") find it."""

from __future__ import annotations

import psycopg
from psycopg import sql

from soleflip_bi.shared.columns import Column


def comment_on_columns(
    conn: psycopg.Connection, schema: str, relation: str, columns: tuple[Column, ...]
) -> None:
    """Set the comment of every documented column ``schema.relation`` has (in the caller's
    transaction). COMMENT takes no parameters, so the text goes in as a quoted literal. A
    documented column the relation lacks is left to the tests, which compare the two: a
    build never fails over a description."""
    present = live_column_comments(conn, schema, relation)
    for column in columns:
        if column.name not in present:
            continue
        conn.execute(
            sql.SQL("comment on column {}.{} is {}").format(
                sql.Identifier(schema, relation),
                sql.Identifier(column.name),
                sql.Literal(column.description),
            )
        )


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
