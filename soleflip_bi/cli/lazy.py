"""The commands' Dagster side (``cli/dagster_runs.py``), loaded when a command needs it.

Importing Dagster and building the definitions takes seconds; `soleflip-bi views status`,
`db ...` and a `views refresh` with nothing to do need only PostgreSQL, so they never
load it (``soleflip_bi_tests/test_cli_nothing_to_do.py``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

DAGSTER_SIDE = "soleflip_bi.cli.dagster_runs"


def dagster_side() -> ModuleType:
    return importlib.import_module(DAGSTER_SIDE)
