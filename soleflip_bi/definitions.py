"""The Dagster code location: every module of ``soleflip_bi/defs/``, one per domain."""

from pathlib import Path

import dagster as dg

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
