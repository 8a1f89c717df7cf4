"""Where Metabase is, how we log in, and how Metabase reaches the shop database.

Everything comes from environment variables, read when a push starts, so definitions
load and exports run with no secret present.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from soleflip_bi.shared import settings
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA

COLLECTION_NAME = "SoleFlip Analytics"
DATABASE_NAME = "SoleFlip Analytics"
SSL_MODES = ("require", "verify-ca", "verify-full")


class MetabaseConfigError(ValueError):
    """Metabase settings are missing or incomplete."""


@dataclass(frozen=True)
class MetabaseConfig:
    url: str
    api_key: str | None = None
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_env(cls) -> MetabaseConfig:
        url = os.environ.get("METABASE_URL", "").strip().rstrip("/")
        if not url:
            raise MetabaseConfigError(
                "METABASE_URL is not set: set it (with METABASE_API_KEY, or METABASE_USER and "
                "METABASE_PASSWORD) to push, or use `soleflip-bi dashboards export DIR`"
            )
        api_key = os.environ.get("METABASE_API_KEY") or None
        user = os.environ.get("METABASE_USER") or None
        password = os.environ.get("METABASE_PASSWORD") or None
        if not api_key and not (user and password):
            raise MetabaseConfigError(
                "METABASE_URL is set but no credentials are: set METABASE_API_KEY "
                "(Metabase 0.49+), or METABASE_USER and METABASE_PASSWORD"
            )
        return cls(url, api_key, user, password)


def metabase_configured() -> bool:
    return bool(os.environ.get("METABASE_URL", "").strip())


def export_directory() -> Path:
    """Where the dashboards asset writes JSON when no Metabase is configured."""
    configured = os.environ.get("SOLEFLIP_EXPORT_DIR")
    return Path(configured) if configured else settings.PROJECT_ROOT / "exports" / "metabase"


def connection_details(database_url: str) -> dict[str, Any]:
    """Metabase's PostgreSQL connection details for the shop database, ``analytics`` only.

    Host, database and (by default) user come from the URL the project itself uses;
    METABASE_DB_HOST and METABASE_DB_USER override them (Metabase often reaches the
    database under another name, and should log in as the read-only role), and the
    password is METABASE_DB_PASSWORD or the URL's. ``ssl`` is set only when the URL's
    ``sslmode`` asks for a mode: ``require``/``verify-*`` (true) or ``disable`` (false).
    """
    params = conninfo_to_dict(database_url)
    details: dict[str, Any] = {
        "host": os.environ.get("METABASE_DB_HOST") or params.get("host") or "localhost",
        "port": int(params.get("port") or 5432),
        "dbname": params.get("dbname") or params.get("user") or "postgres",
        "user": os.environ.get("METABASE_DB_USER") or params.get("user") or "postgres",
        "schema-filters-type": "inclusion",
        "schema-filters-patterns": ANALYTICS_SCHEMA,
    }
    sslmode = params.get("sslmode")
    if sslmode in SSL_MODES or sslmode == "disable":
        # Asked for: kept. Otherwise Metabase chooses (it tries SSL first and keeps it
        # when the server accepts it), and a push never changes what it chose.
        details["ssl"] = sslmode != "disable"
    password = os.environ.get("METABASE_DB_PASSWORD") or params.get("password")
    if password:
        details["password"] = password
    return details
