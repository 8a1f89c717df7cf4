"""Which registry definition each live view was built from: the project's own record.

A build records the view's name, the oid of the relation it made and the definition hash
(``soleflip_bi.view_definition``), in the build's transaction; a swap renames the new
relation into place, and its oid goes with it. A live view whose oid is not the recorded
one was made by someone else, whatever its name and comment say.

The view's comment is not used for this: it is the view's description, which people and
Metabase read (README "Every column explains itself"). A view built by an older release
carries the hash as its comment (``LEGACY_PREFIX``); it is read once, recorded here by the
view's next refresh, and the comment becomes the description.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA

LEGACY_PREFIX = "soleflip_bi definition "


@dataclass(frozen=True)
class BuiltFrom:
    """The definition hash a live view was built from, and whether the record says so
    (``False``: read from an older release's comment marker)."""

    definition_hash: str
    recorded: bool


def built_from(conn: psycopg.Connection, name: str) -> BuiltFrom | None:
    """What the live view ``name`` was built from, or None when soleflip-bi did not build
    the relation now in its place (made by hand, or no such view)."""
    relation = f"{ANALYTICS_SCHEMA}.{name}"
    row = conn.execute(
        "select oid, obj_description(oid, 'pg_class') from pg_class where oid = to_regclass(%s)",
        (relation,),
    ).fetchone()
    if row is None:
        return None
    oid, comment = row
    if _record_exists(conn):
        recorded = conn.execute(
            "select definition_hash from soleflip_bi.view_definition "
            "where view_name = %s and relation = %s",
            (name, oid),
        ).fetchone()
        if recorded:
            return BuiltFrom(recorded[0], True)
    if comment and comment.startswith(LEGACY_PREFIX):
        return BuiltFrom(comment.removeprefix(LEGACY_PREFIX), False)
    return None


def record_build(conn: psycopg.Connection, name: str, relation: str, definition_hash: str) -> None:
    """Record that ``relation`` (the view itself, or its copy about to be swapped in) is
    view ``name`` built from ``definition_hash``; in the caller's transaction."""
    conn.execute(
        """
        insert into soleflip_bi.view_definition (view_name, relation, definition_hash)
        values (%s, to_regclass(%s), %s)
        on conflict (view_name) do update
            set relation = excluded.relation, definition_hash = excluded.definition_hash,
                built_at = now()
        """,
        (name, f"{ANALYTICS_SCHEMA}.{relation}", definition_hash),
    )


def forget_build(conn: psycopg.Connection, name: str) -> None:
    """Remove the record of a view that was dropped."""
    if _record_exists(conn):
        conn.execute("delete from soleflip_bi.view_definition where view_name = %s", (name,))


def _record_exists(conn: psycopg.Connection) -> bool:
    return conn.execute("select to_regclass('soleflip_bi.view_definition') is not null").fetchone()[
        0
    ]
