"""Dagster instances for tests: the project's dagster.yaml with a storage database of its own."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from soleflip_bi.shared import settings
from soleflip_bi_tests.support.databases import create_database, drop_database


@contextmanager
def dagster_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary DAGSTER_HOME with the project's dagster.yaml and its own storage."""
    token = uuid.uuid4().hex[:8]
    home = settings.PROJECT_ROOT / f".tmp_dagster_home_{token}"
    home.mkdir()
    shutil.copyfile(settings.PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    storage = f"dagster_test_{token}"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", create_database(storage))
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)
        drop_database(storage)


@contextmanager
def dagster_instance(monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    """A real instance on PostgreSQL storage, as the daemon and the UI use it."""
    with dagster_home(monkeypatch), dg.DagsterInstance.get() as instance:
        yield instance
