"""Which database we talk to, and how a connection is opened."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from soleflip_bi.database.embedded import default_server
from soleflip_bi.shared import settings


class DatabaseUrlError(ValueError):
    """SOLEFLIP_DATABASE_URL is not a usable libpq URL."""


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
