"""Dagster's storage is never guessed for a shop database on another server.

With SOLEFLIP_DATABASE_URL on a server of the operator's and DAGSTER_POSTGRES_URL unset, the
CLI stops with one sentence instead of starting the embedded server to keep the run history
there (and mixing it with the demo's). "Another server" is the embedded one reached through
a TCP relay on another port: to the project it is a different server.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import suppress

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from soleflip_bi.cli.main import main
from soleflip_bi.database.embedded import default_server
from soleflip_bi.instance import (
    StorageNotConfigured,
    dagster_home,
    on_embedded_server,
    storage_url,
)
from soleflip_bi.shared import settings
from soleflip_bi_tests.support.shop import stock_shop


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@pytest.fixture
def other_server(scratch_database_url: str) -> Iterator[str]:
    """``scratch_database_url`` as if it were on a server of its own (a local TCP relay)."""
    params = conninfo_to_dict(scratch_database_url)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def relay() -> None:
        with suppress(OSError):
            while True:
                client, _ = listener.accept()
                upstream = socket.create_connection(("127.0.0.1", int(params["port"])))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    threading.Thread(target=relay, daemon=True).start()
    try:
        yield make_conninfo(scratch_database_url, port=str(port))
    finally:
        listener.close()


def test_a_shop_on_another_server_needs_dagsters_storage_named(
    other_server: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("SOLEFLIP_DATABASE_URL", other_server)
    monkeypatch.delenv("DAGSTER_POSTGRES_URL", raising=False)
    assert not on_embedded_server(other_server)
    port = conninfo_to_dict(other_server)["port"]

    assert main(["views", "refresh", "--all", "--always-run"]) == 2

    [error] = capsys.readouterr().err.splitlines()
    assert error == (
        f"soleflip-bi: error: SOLEFLIP_DATABASE_URL points at 127.0.0.1:{port}, not the "
        "embedded server, and DAGSTER_POSTGRES_URL is not set: set DAGSTER_POSTGRES_URL to a "
        "PostgreSQL database for Dagster's run history (a database of that server will do); "
        "the embedded server is not started for it"
    )
    with pytest.raises(StorageNotConfigured):
        storage_url()


def test_another_database_of_the_embedded_server_gets_an_instance_of_its_own(
    scratch_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A refresh against it never shows (or fails) in the demo's instance."""
    name = conninfo_to_dict(scratch_database_url)["dbname"]
    stock_shop(scratch_database_url, orders=100, seed=23)
    for variable in ("DAGSTER_POSTGRES_URL", "DAGSTER_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SOLEFLIP_DATABASE_URL", scratch_database_url)
    assert on_embedded_server(scratch_database_url)
    assert (
        dagster_home() == settings.PROJECT_ROOT / ".dagster_home" / "databases" / f"dagster_{name}"
    )
    demo_runs = _run_count(default_server().url("dagster"))

    assert main(["views", "refresh", "sales_summary_daily", "--always-run"]) == 0

    assert storage_url().endswith(f"/dagster_{name}")
    assert _run_count(storage_url()) == 1
    assert _run_count(default_server().url("dagster")) == demo_runs
    assert (dagster_home() / "dagster.yaml").exists()
    capsys.readouterr()


def test_the_embedded_shop_database_keeps_the_demos_instance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("DAGSTER_POSTGRES_URL", "DAGSTER_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SOLEFLIP_DATABASE_URL", default_server().url())
    assert dagster_home() == settings.PROJECT_ROOT / ".dagster_home"
    assert storage_url().endswith("/dagster")


def _run_count(url: str) -> int:
    """Runs recorded in the Dagster storage at ``url``; 0 where it was never created (a
    fresh machine has no demo instance yet)."""
    database = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(default_server().url("postgres")) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (database,))
        if exists.fetchone() is None:
            return 0
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('runs')").fetchone()[0] is None:
            return 0
        return conn.execute("select count(*) from runs").fetchone()[0]
