"""Which database we talk to, and how a connection is opened."""

from __future__ import annotations

import re

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from soleflip_bi.database.embedded import default_server
from soleflip_bi.shared import settings


class DatabaseUrlError(ValueError):
    """SOLEFLIP_DATABASE_URL is not a usable libpq URL."""


class DatabaseUnreachable(ValueError):
    """The shop database cannot be reached; retrying would not help, or nothing ran yet."""


# What the server says when a connection can never succeed as configured: retrying the
# same URL gives the same answer. libpq reports these without an SQLSTATE, so by text.
PERMANENT_CONNECTION_FAILURES = (
    re.compile(r'FATAL:\s+(database "[^"]*" does not exist)'),
    re.compile(r'FATAL:\s+(role "[^"]*" does not exist)'),
    re.compile(r"FATAL:\s+(password authentication failed for user \"[^\"]*\")"),
    re.compile(r"FATAL:\s+(no pg_hba\.conf entry for [^,\n]*)"),
)


def permanent_connection_failure(error: BaseException) -> str | None:
    """The server's reason when ``error`` is a connection failure no retry can fix."""
    if not isinstance(error, psycopg.OperationalError):
        return None
    for pattern in PERMANENT_CONNECTION_FAILURES:
        found = pattern.search(str(error))
        if found:
            return found.group(1)
    return None


def check_reachable(url: str) -> None:
    """Connect once, before a run starts, and say in one sentence why that failed."""
    try:
        with psycopg.connect(url, connect_timeout=10, application_name="soleflip-bi"):
            return
    except psycopg.OperationalError as exc:
        reason = permanent_connection_failure(exc)
        if reason is None:
            refused = "Connection refused" in str(exc)
            reason = (
                "the server refused the connection (is PostgreSQL running there?)"
                if refused
                else str(exc).splitlines()[0].split(" failed: ")[-1].strip()
            )
        raise DatabaseUnreachable(
            f"cannot connect to the shop database {_where(url)}: {reason}"
        ) from None


def _where(url: str) -> str:
    params = conninfo_to_dict(url)
    host = params.get("host") or params.get("hostaddr") or "localhost"
    return f"{params.get('dbname') or '?'} at {host}:{params.get('port') or 5432}"


def resolve_database_url(explicit: str | None = None) -> str:
    """The configured URL, or the embedded server's (started on demand) when none is set."""
    url = explicit or settings.database_url_override()
    if url is None:
        return default_server().ensure_running()
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        # Neither libpq's message nor the exception chain may reach a log: libpq quotes the
        # part of the URL it could not parse, which can be the password.
        raise DatabaseUrlError(
            f"SOLEFLIP_DATABASE_URL is not a valid libpq URL ({_without_quoted(str(exc))}; "
            "the value is not shown, it may contain a password)"
        ) from None
    return url


def _without_quoted(message: str) -> str:
    """libpq's complaint up to the first quoted fragment of the URL."""
    return message.split('"', 1)[0].strip().rstrip(":").strip() or "unparsable"


def redact(url: str) -> str:
    """The URL with any password removed, safe for logs and metadata."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable database URL>"
    if "password" in params:
        params["password"] = "***"
    return make_conninfo(**params)


def connect(url: str | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(
        resolve_database_url(url), autocommit=autocommit, application_name="soleflip-bi"
    )
