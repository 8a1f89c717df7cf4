"""The read-only role Metabase logs in with: ``analytics`` and nothing else.

SELECT on everything in ``analytics`` now, and through default privileges on every view
the refreshing user creates later (a rebuilt view also carries its grants over, see
``views/materialize.py``). Privileges on the source schemas and on ``soleflip_bi`` are
revoked, in case the role held any before. The password is hashed (SCRAM) on the client,
so the clear text never reaches the server or its logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from soleflip_bi.roles.login import password_from_env, upsert_login_role
from soleflip_bi.shared.catalogue import SOURCE_TABLES
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA, BOOKKEEPING_SCHEMA

PASSWORD_ENV = "SOLEFLIP_READONLY_PASSWORD"


class ReadOnlyRoleError(ValueError):
    """The read-only role cannot be set up as asked."""


@dataclass(frozen=True)
class ReadOnlyGrant:
    role: str
    created: bool
    database: str
    owner: str  # whose future views the role can read (default privileges)
    relations: int  # tables, views and materialized views readable now
    revoked_schemas: tuple[str, ...]


def readonly_password(role: str) -> str:
    return password_from_env(
        PASSWORD_ENV, role, ReadOnlyRoleError, " (Metabase's METABASE_DB_PASSWORD)"
    )


def private_schemas() -> tuple[str, ...]:
    """The schemas the role must not read: the sources and our bookkeeping."""
    return (*sorted({table.schema for table in SOURCE_TABLES}), BOOKKEEPING_SCHEMA)


def grant_readonly(conn: psycopg.Connection, role: str, password: str) -> ReadOnlyGrant:
    """Create or update ``role`` as a read-only LOGIN role on ``analytics``, in one transaction."""
    name = sql.Identifier(role)
    with conn.transaction():
        owner, database = conn.execute("select current_user, current_database()").fetchone()
        created = upsert_login_role(conn, role, password, ReadOnlyRoleError)
        conn.execute(
            sql.SQL("grant connect on database {} to {}").format(sql.Identifier(database), name)
        )
        revoked = _revoke_private(conn, name)
        schema = sql.Identifier(ANALYTICS_SCHEMA)
        conn.execute(sql.SQL("create schema if not exists {}").format(schema))
        schema_owner = conn.execute(
            "select nspowner::regrole::text from pg_namespace where nspname = %s",
            (ANALYTICS_SCHEMA,),
        ).fetchone()[0]
        conn.execute(sql.SQL("grant usage on schema {} to {}").format(schema, name))
        conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(schema, name))
        default_privileges = sql.SQL(
            "alter default privileges for role {} in schema {} grant select on tables to {}"
        )
        # The views are created by the schema's owner (the refresh role, once it exists)
        # or, before that, by whoever refreshes now.
        owners = list(dict.fromkeys([schema_owner.strip('"'), owner]))
        for creator in owners:
            try:
                with conn.transaction():
                    conn.execute(default_privileges.format(sql.Identifier(creator), schema, name))
            except psycopg.errors.InsufficientPrivilege:
                raise ReadOnlyRoleError(
                    f"{owner} may not set the default privileges of role {creator}, which "
                    f"owns schema {ANALYTICS_SCHEMA} and creates its views: run this as a "
                    f"superuser or a member of {creator}"
                ) from None
        owner = ", ".join(owners)
        relations = conn.execute(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relkind in ('r', 'v', 'm', 'p', 'f')",
            (ANALYTICS_SCHEMA,),
        ).fetchone()[0]
    return ReadOnlyGrant(role, created, database, owner, int(relations), revoked)


def _revoke_private(conn: psycopg.Connection, name: sql.Identifier) -> tuple[str, ...]:
    present = [
        row[0]
        for row in conn.execute(
            "select nspname from pg_namespace where nspname = any(%s) order by nspname",
            (list(private_schemas()),),
        )
    ]
    for schema in present:
        conn.execute(
            sql.SQL("revoke all on all tables in schema {} from {}").format(
                sql.Identifier(schema), name
            )
        )
        conn.execute(
            sql.SQL("revoke all on schema {} from {}").format(sql.Identifier(schema), name)
        )
    return tuple(present)
