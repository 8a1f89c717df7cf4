"""Shared fixtures: a real PostgreSQL (the embedded server) and real Dagster instances.

Each test session gets its own databases on the embedded server, so tests never touch
the demo data and can run while `make demo` is up.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from soleflip_bi.capture.install import install_change_capture, record_reload
from soleflip_bi.database.embedded import default_server
from soleflip_bi.shared import settings
from soleflip_bi.sources.demo import load_demo

DEMO_ORDERS = 1106
DEMO_SEED = 42


def _create_database(name: str) -> str:
    server = default_server()
    server.ensure_running()
    return server.create_database(name)


def _drop_database(name: str) -> None:
    server = default_server()
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


@contextmanager
def demo_database(orders: int = DEMO_ORDERS, seed: int = DEMO_SEED) -> Iterator[str]:
    """A database of its own with the source schema, demo data and change capture."""
    name = f"soleflip_demo_{uuid.uuid4().hex[:8]}"
    url = _create_database(name)
    with psycopg.connect(url) as conn:
        load_demo(conn, orders=orders, seed=seed)
        install_change_capture(conn)
        record_reload(conn)
    try:
        yield url
    finally:
        _drop_database(name)


@pytest.fixture(scope="session")
def demo_database_url() -> Iterator[str]:
    """The default demo data set, shared by the tests that only read it."""
    with demo_database() as url:
        yield url


@pytest.fixture(scope="module")
def module_demo_database_url() -> Iterator[str]:
    """The default demo data set for one test module that changes it."""
    with demo_database() as url:
        yield url


@pytest.fixture
def scratch_database_url() -> Iterator[str]:
    """An empty database of its own, for tests that change data."""
    name = f"soleflip_scratch_{uuid.uuid4().hex[:8]}"
    url = _create_database(name)
    yield url
    _drop_database(name)


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch):
    """Point SOLEFLIP_DATABASE_URL at a given database for the duration of a test."""

    def _use(url: str) -> str:
        monkeypatch.setenv("SOLEFLIP_DATABASE_URL", url)
        return url

    return _use


@pytest.fixture
def dagster_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary DAGSTER_HOME with the project's dagster.yaml and its own storage database."""
    token = uuid.uuid4().hex[:8]
    home = settings.PROJECT_ROOT / f".tmp_dagster_home_{token}"
    home.mkdir()
    shutil.copyfile(settings.PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    storage = f"dagster_test_{token}"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", _create_database(storage))
    yield home
    shutil.rmtree(home, ignore_errors=True)
    _drop_database(storage)


def pytest_sessionstart(session: pytest.Session) -> None:
    # Tests choose their database explicitly; never fall through to a developer's setting.
    os.environ.pop("SOLEFLIP_DATABASE_URL", None)
