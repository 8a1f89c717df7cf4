"""The local Dagster instance used by the CLI and the demo.

It is configured by the top-level ``dagster.yaml`` (PostgreSQL storage); when
``DAGSTER_POSTGRES_URL`` is unset the storage goes to the ``dagster`` database of the
embedded server, so the demo exercises the production configuration.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from soleflip_bi.database.embedded import default_server
from soleflip_bi.shared import settings

DAGSTER_DATABASE = "dagster"


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME", settings.PROJECT_ROOT / ".dagster_home"))


def prepare_dagster_environment() -> dict[str, str]:
    """Make DAGSTER_HOME and DAGSTER_POSTGRES_URL usable; return the variables set."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(settings.PROJECT_ROOT / "dagster.yaml", config)
    env = {"DAGSTER_HOME": str(home)}
    if not os.environ.get("DAGSTER_POSTGRES_URL"):
        server = default_server()
        server.ensure_running()
        env["DAGSTER_POSTGRES_URL"] = server.create_database(DAGSTER_DATABASE)
    os.environ.update(env)
    return env
