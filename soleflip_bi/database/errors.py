"""Errors of the database layer that the command line reports in one sentence; kept apart
from the modules that import Dagster, so the command line loads without it."""


class RefreshWaitError(RuntimeError):
    """`views refresh` cannot start its run now; the message says why, in one sentence."""
