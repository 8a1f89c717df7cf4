"""Errors of a refresh a user can cause or act on, importable without loading Dagster."""


class RefreshFailed(RuntimeError):
    """A refresh run did not succeed (its run id tells where to look)."""
