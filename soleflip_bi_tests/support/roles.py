"""Connecting as a role of the test's own, and whether the role may run a statement."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import make_conninfo


def connect_as(url: str, role: str) -> psycopg.Connection:
    """A connection to ``url`` as ``role`` (the embedded server trusts loopback)."""
    return psycopg.connect(make_conninfo(url, user=role), autocommit=True)


def refused(conn: psycopg.Connection, statement: str) -> bool:
    """Whether ``statement`` fails for want of a privilege (anything else raises)."""
    try:
        conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False
