"""Fixtures over ``support/``: a real PostgreSQL (the embedded server) and real Dagster
instances. Each test gets databases of its own, so tests never touch the demo data and
can run while `make demo` is up."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from soleflip_bi_tests.support import instances
from soleflip_bi_tests.support.databases import new_database
from soleflip_bi_tests.support.shop import new_shop


@pytest.fixture(scope="session")
def demo_database_url() -> Iterator[str]:
    """The default demo shop (views not built), shared by the tests that only read it."""
    with new_shop(views=False) as url:
        yield url


@pytest.fixture(scope="module")
def module_demo_database_url() -> Iterator[str]:
    """The default demo shop (views not built), for one test module that changes it."""
    with new_shop(views=False) as url:
        yield url


@pytest.fixture
def scratch_database_url() -> Iterator[str]:
    """An empty database of its own, for tests that change data."""
    with new_database() as url:
        yield url


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch):
    """Point SOLEFLIP_DATABASE_URL at a given database for the duration of a test."""

    def _use(url: str) -> str:
        monkeypatch.setenv("SOLEFLIP_DATABASE_URL", url)
        return url

    return _use


@pytest.fixture
def dagster_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with instances.dagster_home(monkeypatch) as home:
        yield home


@pytest.fixture
def instance(monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    """A real Dagster instance on PostgreSQL storage, of this test alone."""
    with instances.dagster_instance(monkeypatch) as instance:
        yield instance


def pytest_sessionstart(session: pytest.Session) -> None:
    # Tests choose their database explicitly; never fall through to a developer's setting.
    os.environ.pop("SOLEFLIP_DATABASE_URL", None)
