"""The role Dagster refreshes the views with: it reads the sources and owns what it builds.

* SELECT on the source tables the views read, and nothing else on them: whatever the
  role held there before is revoked, so it can never write an order or a stock item;
* ownership of schema ``analytics`` and everything in it (REFRESH, the swap of a
  redefined view and the stored facts need ownership), and of schema ``soleflip_bi``
  (refresh log, change log the sensors read and prune, the change-capture trigger
  functions, which run as their owner);
* CREATE on the database, because PostgreSQL checks it for ``CREATE SCHEMA IF NOT EXISTS``
  even when the schema exists, and building a view runs that statement;
* the default privileges the current user set in ``analytics`` (the read-only role's
  SELECT, see ``roles.py``) are set for this role too, so Metabase can read the views it
  creates.

Run it as the owner of the source tables (or a superuser), after
``install-change-capture``. The password is hashed (SCRAM) on the client.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from soleflip_bi.roles.login import password_from_env, upsert_login_role
from soleflip_bi.shared.catalogue import SOURCE_TABLES
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA, BOOKKEEPING_SCHEMA

PASSWORD_ENV = "SOLEFLIP_REFRESH_PASSWORD"
OWNED_SCHEMAS = (ANALYTICS_SCHEMA, BOOKKEEPING_SCHEMA)

# ALTER ... OWNER TO, by pg_class.relkind; indexes and identity sequences follow their table.
RELATION_KINDS = {
    "r": "table",
    "p": "table",
    "v": "view",
    "m": "materialized view",
    "S": "sequence",
    "f": "foreign table",
}


class RefreshRoleError(ValueError):
    """The refresh role cannot be set up as asked."""


@dataclass(frozen=True)
class RefreshRole:
    role: str
    created: bool
    database: str
    source_tables: int  # readable, not writable
    owned_objects: int  # relations and functions in analytics and soleflip_bi
    default_privileges: int  # default ACL entries copied from the current user


def refresh_password(role: str) -> str:
    return password_from_env(PASSWORD_ENV, role, RefreshRoleError)


def create_refresh_role(conn: psycopg.Connection, role: str, password: str) -> RefreshRole:
    """Create or update ``role`` as described in the module docstring, in one transaction."""
    name = sql.Identifier(role)
    try:
        with conn.transaction():
            created = upsert_login_role(conn, role, password, RefreshRoleError)
            database = conn.execute("select current_database()").fetchone()[0]
            conn.execute(
                sql.SQL("grant connect, create on database {} to {}").format(
                    sql.Identifier(database), name
                )
            )
            _read_sources(conn, name)
            owned = sum(_own_schema(conn, schema, name) for schema in OWNED_SCHEMAS)
            defaults = _copy_default_privileges(conn, name)
    except psycopg.errors.InsufficientPrivilege as error:
        raise RefreshRoleError(
            "run this as the owner of the source tables (or a superuser) who may create "
            f"roles: {error.diag.message_primary}"
        ) from None
    return RefreshRole(role, created, database, len(SOURCE_TABLES), owned, defaults)


def _read_sources(conn: psycopg.Connection, name: sql.Identifier) -> None:
    for schema in sorted({table.schema for table in SOURCE_TABLES}):
        conn.execute(
            sql.SQL("revoke create on schema {} from {}").format(sql.Identifier(schema), name)
        )
        conn.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(schema), name))
    for table in SOURCE_TABLES:
        conn.execute(sql.SQL("revoke all on table {} from {}").format(table.identifier, name))
        conn.execute(sql.SQL("grant select on table {} to {}").format(table.identifier, name))


def _own_schema(conn: psycopg.Connection, schema: str, name: sql.Identifier) -> int:
    """Make the role own ``schema`` and every relation and function in it."""
    conn.execute(
        sql.SQL("create schema if not exists {} authorization {}").format(
            sql.Identifier(schema), name
        )
    )
    conn.execute(sql.SQL("alter schema {} owner to {}").format(sql.Identifier(schema), name))
    relations = conn.execute(
        """
        select c.relname, c.relkind from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %s and c.relkind = any(%s)
          and not exists (select from pg_depend d where d.classid = 'pg_class'::regclass
                          and d.objid = c.oid and d.deptype in ('a', 'i'))
        order by c.relname
        """,
        (schema, list(RELATION_KINDS)),
    ).fetchall()
    for relation, kind in relations:
        conn.execute(
            sql.SQL("alter {} {} owner to {}").format(
                sql.SQL(RELATION_KINDS[kind]), sql.Identifier(schema, relation), name
            )
        )
    functions = conn.execute(
        """
        select p.proname, pg_get_function_identity_arguments(p.oid) from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace where n.nspname = %s
        """,
        (schema,),
    ).fetchall()
    for function, arguments in functions:
        conn.execute(
            sql.SQL("alter routine {}({}) owner to {}").format(
                sql.Identifier(schema, function),
                sql.SQL(arguments),  # argument types, from the catalog
                name,
            )
        )
    return len(relations) + len(functions)


def _copy_default_privileges(conn: psycopg.Connection, name: sql.Identifier) -> int:
    """Grant what the current user's default privileges in analytics grant, for the role's
    future objects too (Metabase's SELECT on views created by later refreshes)."""
    rows = conn.execute(
        """
        select pg_get_userbyid(a.grantee), a.privilege_type
        from pg_default_acl d
        join pg_namespace n on n.oid = d.defaclnamespace
        cross join lateral aclexplode(d.defaclacl) a
        where d.defaclrole = current_user::regrole and n.nspname = %s
          and d.defaclobjtype = 'r' and a.grantee <> 0
        """,
        (ANALYTICS_SCHEMA,),
    ).fetchall()
    for grantee, privilege in rows:
        conn.execute(
            sql.SQL(
                "alter default privileges for role {} in schema {} grant {} on tables to {}"
            ).format(
                name,
                sql.Identifier(ANALYTICS_SCHEMA),
                sql.SQL(privilege),  # a privilege keyword from the catalog
                sql.Identifier(grantee),
            )
        )
    return len(rows)
