"""Fixtures over ``support/``: a real PostgreSQL (the embedded server) and real Dagster
instances. Each test gets databases of its own, so tests never touch the demo data and
can run while `make demo` is up."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from soleflip_bi.database.embedded import default_server
from soleflip_bi_tests.support import instances, processes
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


# --- No process outlives the session --------------------------------------------------
# Fixtures start servers in process groups of their own and stop the whole group
# (support/processes.py). This check makes a leftover fail the session: at the end,
# every live descendant of pytest other than the embedded PostgreSQL server (long-lived
# on purpose) is listed, killed, and the exit status set to 1. pytest adopts orphaned
# descendants (a child subreaper), so a code server whose parent died is found too.


# The embedded server is stopped at the end when this session started it; a server that
# was already running (`make demo`, a developer's) is left as it was.
_SERVER_WAS_RUNNING: list[bool] = []


def pytest_configure(config: pytest.Config) -> None:
    processes.become_subreaper()
    server = default_server()
    _SERVER_WAS_RUNNING.append(server.is_running())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SERVER_WAS_RUNNING == [False]:
        default_server().stop()
    processes.reap_zombies(os.getpid())
    leftovers = processes.leftover_processes()
    if not leftovers:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write("\n")
        reporter.write_sep("=", f"{len(leftovers)} process(es) outlived the tests", red=True)
    for process in leftovers:
        line = f"leftover process {process.pid}: {process.command}"
        if reporter is not None:
            reporter.write_line(line, red=True)
        else:
            print(line, file=sys.stderr)
    processes.kill_all(leftovers)
    session.exitstatus = 1
