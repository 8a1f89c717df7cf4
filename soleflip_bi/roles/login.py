"""Creating the project's LOGIN roles (read-only for Metabase, refresh for Dagster).

Both are ordinary roles: the command refuses to turn the user running it, or a role with
administrative attributes, into one. The password is hashed (SCRAM) on the client, so the
clear text never reaches the server or its logs.
"""

from __future__ import annotations

import os

import psycopg
from psycopg import sql


def password_from_env(variable: str, role: str, error: type[Exception], hint: str = "") -> str:
    """The role's password from ``variable``; a LOGIN role without one could log in wherever
    trust authentication applies, so a missing password is refused."""
    password = os.environ.get(variable)
    if not password:
        raise error(
            f"set {variable} to the password {role!r} should log in with{hint}; "
            "it is read from the environment only"
        )
    return password


def upsert_login_role(
    conn: psycopg.Connection, role: str, password: str, error: type[Exception]
) -> bool:
    """Create or update ``role`` with ``password``; return whether it was created.

    ``error`` is the exception raised, with one sentence, when the role may not be used.
    """
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
    if role == conn.execute("select current_user").fetchone()[0]:
        raise error(f"{role!r} is the user running this command; choose another")
    existing = conn.execute(
        "select rolsuper or rolcreaterole or rolcreatedb or rolreplication or rolbypassrls "
        "from pg_roles where rolname = %s",
        (role,),
    ).fetchone()
    if existing and existing[0]:
        raise error(f"role {role!r} has administrative attributes; use a new role")
    verb = sql.SQL("alter" if existing else "create")
    conn.execute(
        sql.SQL(
            "{} role {} login nosuperuser nocreatedb nocreaterole noreplication nobypassrls "
            "password {}"
        ).format(verb, sql.Identifier(role), sql.Literal(verifier.decode()))
    )
    return existing is None
