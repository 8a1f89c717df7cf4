"""Setting up views as another build left them: an older definition, a hand-made relation
recorded as ours, an older release's comment marker."""

from __future__ import annotations

import psycopg

from soleflip_bi.views.definitions import LEGACY_PREFIX


def record_as_built(conn: psycopg.Connection, view: str, definition_hash: str) -> None:
    """Record the relation now named ``analytics.view`` as built from ``definition_hash``
    (an older registry entry when it is not the current hash)."""
    conn.execute(
        """
        insert into soleflip_bi.view_definition (view_name, relation, definition_hash)
        values (%s, %s::regclass, %s)
        on conflict (view_name) do update
            set relation = excluded.relation, definition_hash = excluded.definition_hash
        """,
        (view, f"analytics.{view}", definition_hash),
    )


def as_an_older_release_left_it(conn: psycopg.Connection, view: str, definition_hash: str) -> None:
    """No record of the build, the definition hash in the view's comment."""
    conn.execute("delete from soleflip_bi.view_definition where view_name = %s", (view,))
    conn.execute(
        f"comment on materialized view analytics.{view} is '{LEGACY_PREFIX}{definition_hash}'"
    )
