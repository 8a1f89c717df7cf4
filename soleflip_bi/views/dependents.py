"""Views and materialized views of anyone's that read an analytics view, kept across a swap.

PostgreSQL cannot point a view at another relation, and a materialized view cannot be
redefined in place: replacing an analytics view means dropping it, which its dependents
forbid (without CASCADE, which would lose them). So the swap captures every dependent,
deepest last, with its owner, options, comment, column comments, privileges and indexes;
drops them (deepest first, never CASCADE); swaps the view; and creates them again in
order, in the same transaction. Readers of a dependent wait for the commit and then read
the new one. A dependent the new definition breaks (a column it reads is gone), or one the
refresh role may not drop or create as its owner (it needs the owner's role), fails the
swap with one sentence and leaves everything as it was. Each dependent is created by its
owner's role, with that role's privileges. Rules and triggers on dependents are not
carried over.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

QUERY = resources.files("soleflip_bi.views").joinpath("catalog", "dependents.sql").read_text()
KINDS = {"v": "view", "m": "materialized view"}
# What the definitions or privileges decide (class 42: a missing column, no privilege;
# 2BP01: objects depend on it): failing again on a retry, so said in one sentence.
PERMANENT = ("42", "2BP01")


class DependentsBlockSwap(RuntimeError):
    """A dependent of a swapped view cannot be created again; nothing was changed."""


@dataclass(frozen=True)
class Dependent:
    schema: str
    name: str
    kind: str  # "view" or "materialized view"
    owner: str
    definition: str
    options: tuple[str, ...]
    populated: bool
    comment: str | None
    column_comments: tuple[tuple[str, str], ...]
    grants: tuple[tuple[str, str, bool], ...]  # grantee ("public" or a role), privilege, option
    indexes: tuple[str, ...]  # CREATE INDEX statements (materialized views)

    @property
    def qualified(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.name))

    @property
    def label(self) -> str:
        return f"{self.kind} {self.schema}.{self.name} (owner {self.owner})"


def dependents(conn: psycopg.Connection, relation: str) -> list[Dependent]:
    """Every dependent of ``relation`` (``schema.name``), in the order to create them."""
    with _qualified_names(conn):
        rows = conn.execute(QUERY, {"relation": relation}).fetchall()
        found = []
        for row in rows:
            oid, schema, name, relkind, _depth, owner, definition, options, populated, comment = row
            found.append(
                Dependent(
                    schema=schema,
                    name=name,
                    kind=KINDS[relkind],
                    owner=owner,
                    definition=definition.strip().rstrip(";"),
                    options=tuple(options),
                    populated=bool(populated),
                    comment=comment,
                    column_comments=_column_comments(conn, oid),
                    grants=_grants(conn, oid),
                    indexes=_indexes(conn, oid),
                )
            )
    return found


def drop(conn: psycopg.Connection, found: list[Dependent], swapped: str) -> None:
    """Drop the dependents, deepest first; never CASCADE."""
    for dependent in reversed(found):
        with _explained(dependent, swapped, "dropped"):
            conn.execute(sql.SQL("drop {} {}").format(sql.SQL(dependent.kind), dependent.qualified))


def recreate(conn: psycopg.Connection, found: list[Dependent], swapped: str) -> None:
    """Create the dependents again on the new view, as they were."""
    with _qualified_names(conn):
        for dependent in found:
            with _explained(dependent, swapped, "created again"):
                _create(conn, dependent)


def _create(conn: psycopg.Connection, d: Dependent) -> None:
    """Create ``d`` as its owner, with the owner's own privileges, as the owner once did."""
    role = conn.execute("select current_setting('role')").fetchone()[0]
    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(d.owner)))
    _create_as_owner(conn, d)
    conn.execute("select set_config('role', %s, true)", (role,))


def _create_as_owner(conn: psycopg.Connection, d: Dependent) -> None:
    options = (
        sql.SQL(" with ({})").format(sql.SQL(", ").join(map(sql.SQL, d.options)))
        if d.options
        else sql.SQL("")
    )  # reloptions as the catalog holds them: name=value
    body = sql.SQL(d.definition)  # the catalog's own text of the definition
    if d.kind == "view":
        conn.execute(sql.SQL("create view {}{} as {}").format(d.qualified, options, body))
    else:
        data = sql.SQL("with data" if d.populated else "with no data")
        conn.execute(
            sql.SQL("create materialized view {}{} as {} {}").format(
                d.qualified, options, body, data
            )
        )
        for index in d.indexes:
            conn.execute(sql.SQL(index))  # pg_get_indexdef's text, names qualified
    kind = sql.SQL(d.kind)
    if d.comment is not None:
        conn.execute(
            sql.SQL("comment on {} {} is {}").format(kind, d.qualified, sql.Literal(d.comment))
        )
    for column, text in d.column_comments:
        conn.execute(
            sql.SQL("comment on column {}.{} is {}").format(
                d.qualified, sql.Identifier(column), sql.Literal(text)
            )
        )
    for grantee, privilege, grantable in d.grants:
        target = sql.SQL("public") if grantee == "public" else sql.Identifier(grantee)
        conn.execute(
            sql.SQL("grant {} on {} to {}{}").format(
                sql.SQL(privilege),  # a privilege name from aclexplode
                d.qualified,
                target,
                sql.SQL(" with grant option" if grantable else ""),
            )
        )


def _column_comments(conn: psycopg.Connection, oid: int) -> tuple[tuple[str, str], ...]:
    rows = conn.execute(
        "select attname, col_description(attrelid, attnum) from pg_attribute "
        "where attrelid = %s and attnum > 0 and not attisdropped "
        "and col_description(attrelid, attnum) is not null order by attnum",
        (oid,),
    ).fetchall()
    return tuple((name, text) for name, text in rows)


def _grants(conn: psycopg.Connection, oid: int) -> tuple[tuple[str, str, bool], ...]:
    rows = conn.execute(
        "select case when a.grantee = 0 then 'public' else pg_get_userbyid(a.grantee) end, "
        "a.privilege_type, a.is_grantable from pg_class c "
        "cross join lateral aclexplode(c.relacl) a "
        "where c.oid = %s and a.grantee <> c.relowner order by 1, 2",
        (oid,),
    ).fetchall()
    return tuple((grantee, privilege, bool(option)) for grantee, privilege, option in rows)


def _indexes(conn: psycopg.Connection, oid: int) -> tuple[str, ...]:
    rows = conn.execute(
        "select pg_get_indexdef(indexrelid) from pg_index where indrelid = %s order by indexrelid",
        (oid,),
    ).fetchall()
    return tuple(row[0] for row in rows)


@contextmanager
def _qualified_names(conn: psycopg.Connection) -> Iterator[None]:
    """search_path = pg_catalog for the block: definitions are read with every name
    qualified and created again from that text. Restored after the block, unless it failed
    (the transaction is lost then anyway)."""
    before = conn.execute("select current_setting('search_path')").fetchone()[0]
    conn.execute("select set_config('search_path', 'pg_catalog', true)")
    yield
    conn.execute("select set_config('search_path', %s, true)", (before,))


@contextmanager
def _explained(dependent: Dependent, swapped: str, action: str) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        if not (exc.sqlstate or "").startswith(PERMANENT):
            raise  # a lock timeout or a lost connection: retried like any other step's
        reason = (exc.diag.message_primary or str(exc)).strip()
        if exc.sqlstate == "42501":  # insufficient_privilege
            advice = (
                f"grant role {dependent.owner} to the role that refreshes the views, "
                f"or drop {dependent.schema}.{dependent.name}"
            )
        else:
            advice = (
                f"the new definition does not fit it: change or drop "
                f"{dependent.schema}.{dependent.name}, then refresh again"
            )
        raise DependentsBlockSwap(
            f"cannot replace {swapped}: its dependent {dependent.label} could not be "
            f"{action}: {reason}; {advice}; nothing was changed"
        ) from exc
