"""Which database we talk to, and how a connection is opened."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from soleflip_bi import settings
from soleflip_bi.database.embedded import default_server


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
        raise DatabaseUrlError(f"SOLEFLIP_DATABASE_URL is not a valid libpq URL: {exc}") from exc
    return url


def redact(url: str) -> str:
    """The URL with any password removed, safe for logs and metadata."""
    params = conninfo_to_dict(url)
    if "password" in params:
        params["password"] = "***"
    return make_conninfo(**params)


def connect(url: str | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(
        resolve_database_url(url), autocommit=autocommit, application_name="soleflip-bi"
    )
