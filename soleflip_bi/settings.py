"""Every environment variable the project reads, in one place.

Nothing here holds a secret: credentials live only in the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def database_url_override() -> str | None:
    """libpq URL of the shop database; ``None`` means "use the embedded server"."""
    return os.environ.get("SOLEFLIP_DATABASE_URL") or None


def embedded_dir() -> Path:
    """Where the embedded server keeps its data directory, log and port file."""
    return Path(os.environ.get("SOLEFLIP_EMBEDDED_DIR", PROJECT_ROOT / ".embedded")).resolve()


def shop_timezone() -> str:
    """IANA zone of the shop: schedules fire and sale dates are cut in it."""
    return os.environ.get("SOLEFLIP_TIMEZONE", "Europe/Berlin")
