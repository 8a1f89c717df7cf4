"""Installing change capture: the change log and a trigger set on every source table.

Every source table gets a statement trigger that logs one row to its stream; the tables
whose facts are maintained incrementally also log the ids of the rows a statement touched.
Installing replaces whatever triggers of ours a table carries, so it is idempotent and
leaves no trigger behind when one is renamed.
"""

from __future__ import annotations

from importlib import resources

import psycopg
from psycopg import sql

from soleflip_bi.shared.catalogue import SOURCE_TABLES, STREAMS, SourceTable
from soleflip_bi.shared.schemas import BOOKKEEPING_SCHEMA

STATEMENT_TRIGGER = "soleflip_bi_changed"
ROW_TRIGGERS = {
    # trigger name: (event, transition tables)
    "soleflip_bi_rows_inserted": ("insert", "new table as new_rows"),
    "soleflip_bi_rows_updated": ("update", "old table as old_rows new table as new_rows"),
    "soleflip_bi_rows_deleted": ("delete", "old table as old_rows"),
}
FUNCTIONS = ("record_source_change", "record_changed_rows")


class ChangeCaptureMissing(RuntimeError):
    """The triggers that feed the sensors are not installed in the target database."""


def install_change_capture(conn: psycopg.Connection) -> None:
    """Create the change log and the triggers (idempotent; needs table ownership)."""
    text = resources.files("soleflip_bi.capture").joinpath("change_capture.sql").read_text()
    with conn.transaction():
        conn.execute(text)
        for table in SOURCE_TABLES:
            _drop_our_triggers(conn, table)
            _create_triggers(conn, table)


def _our_triggers(conn: psycopg.Connection, table: SourceTable) -> list[str]:
    rows = conn.execute(
        """
        select t.tgname from pg_trigger t join pg_proc p on p.oid = t.tgfoid
        where t.tgrelid = %s::regclass and not t.tgisinternal
          and p.pronamespace = %s::regnamespace and p.proname = any(%s)
        """,
        (table.identifier.as_string(conn), BOOKKEEPING_SCHEMA, list(FUNCTIONS)),
    ).fetchall()
    return [name for (name,) in rows]


def _drop_our_triggers(conn: psycopg.Connection, table: SourceTable) -> None:
    for name in _our_triggers(conn, table):
        conn.execute(
            sql.SQL("drop trigger {} on {}").format(sql.Identifier(name), table.identifier)
        )


def _create_triggers(conn: psycopg.Connection, table: SourceTable) -> None:
    stream = sql.Literal(str(table.stream))
    conn.execute(
        sql.SQL(
            "create trigger {} after insert or update or delete or truncate on {} "
            "for each statement execute function {}({})"
        ).format(
            sql.Identifier(STATEMENT_TRIGGER),
            table.identifier,
            sql.Identifier(BOOKKEEPING_SCHEMA, "record_source_change"),
            stream,
        )
    )
    if not table.row_changes:
        return
    for name, (event, transition) in ROW_TRIGGERS.items():
        conn.execute(
            sql.SQL(
                "create trigger {} after {} on {} referencing {} for each statement "
                "execute function {}({})"
            ).format(
                sql.Identifier(name),
                sql.SQL(event),
                table.identifier,
                sql.SQL(transition),
                sql.Identifier(BOOKKEEPING_SCHEMA, "record_changed_rows"),
                stream,
            )
        )


def change_capture_installed(conn: psycopg.Connection) -> bool:
    """Whether every source table carries its full trigger set (one catalogue query: the
    sensors ask on every tick)."""
    expected = {
        (*table.path, name)
        for table in SOURCE_TABLES
        for name in (STATEMENT_TRIGGER, *(ROW_TRIGGERS if table.row_changes else ()))
    }
    rows = conn.execute(
        """
        select tn.nspname, c.relname, t.tgname from pg_trigger t
        join pg_class c on c.oid = t.tgrelid
        join pg_namespace tn on tn.oid = c.relnamespace
        join pg_proc p on p.oid = t.tgfoid
        join pg_namespace pn on pn.oid = p.pronamespace
        where not t.tgisinternal and pn.nspname = %s and p.proname = any(%s)
        """,
        (BOOKKEEPING_SCHEMA, list(FUNCTIONS)),
    ).fetchall()
    return expected <= set(rows)


def record_reload(conn: psycopg.Connection) -> None:
    """Note a bulk reload the triggers could not see (load-demo bypasses them)."""
    with conn.transaction():
        for stream in STREAMS:
            conn.execute(
                "insert into soleflip_bi.source_change (source, operation) values (%s, 'LOAD')",
                (str(stream),),
            )
