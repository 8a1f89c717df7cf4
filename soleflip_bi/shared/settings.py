"""The project's own settings: the shop database, the embedded server, the time zone.

Nothing here holds a secret: credentials live only in the environment. Integrations read
their variables where they are configured: Metabase in ``metabase/config.py``, the Dagster
instance in ``instance.py``, the roles' passwords in ``roles/``.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def database_url_override() -> str | None:
    """libpq URL of the shop database; ``None`` means "use the embedded server"."""
    return os.environ.get("SOLEFLIP_DATABASE_URL") or None


def cron_database_url_override() -> str | None:
    """libpq URL of the database pg_cron keeps its jobs in (SOLEFLIP_CRON_DATABASE_URL),
    when it cannot be found from the shop database: see ``views/cron_site.py``."""
    return os.environ.get("SOLEFLIP_CRON_DATABASE_URL") or None


def embedded_dir() -> Path:
    """Where the embedded server keeps its data directory, log and port file."""
    return Path(os.environ.get("SOLEFLIP_EMBEDDED_DIR", PROJECT_ROOT / ".embedded")).resolve()


def shop_timezone() -> str:
    """IANA zone of the shop: schedules fire and sale dates are cut in it."""
    return os.environ.get("SOLEFLIP_TIMEZONE", "Europe/Berlin")


REFRESH_LOG_DAYS_DEFAULT = 90


def refresh_log_retention_days() -> int:
    """Days ``soleflip_bi.refresh_log`` keeps a refresh (SOLEFLIP_REFRESH_LOG_DAYS, default
    90); the newest refresh of each view and mode is kept whatever its age."""
    value = os.environ.get("SOLEFLIP_REFRESH_LOG_DAYS", "").strip()
    if not value:
        return REFRESH_LOG_DAYS_DEFAULT
    if not value.isdigit() or int(value) < 1:
        raise ValueError(
            f"SOLEFLIP_REFRESH_LOG_DAYS must be a whole number of days (1 or more), not {value!r}"
        )
    return int(value)
