"""The embedded server is a real PostgreSQL 17 that runs even when we are root."""

from __future__ import annotations

import os
import socket

import psycopg
import pytest

from soleflip_bi.database import embedded
from soleflip_bi.database.embedded import EmbeddedServer, EmbeddedServerError, default_server
from soleflip_bi_tests.support.databases import own_cluster


def test_embedded_server_is_postgres_17_on_loopback() -> None:
    url = default_server().ensure_running()
    with psycopg.connect(url) as conn:
        version = conn.execute("show server_version_num").fetchone()[0]
        listen = conn.execute("show listen_addresses").fetchone()[0]
        user = conn.execute("select current_user").fetchone()[0]
    assert int(version) // 10000 == 17
    assert listen == "127.0.0.1"
    assert user == "postgres"


def test_server_process_does_not_run_as_root() -> None:
    server = default_server()
    server.ensure_running()
    pid = int((server.data_dir / "postmaster.pid").read_text().splitlines()[0])
    assert os.stat(f"/proc/{pid}").st_uid != 0


def test_ensure_running_is_idempotent() -> None:
    server = default_server()
    assert server.ensure_running() == server.ensure_running()
    assert server.is_running()


def test_a_start_that_misses_its_running_server_uses_it(monkeypatch) -> None:
    """``pg_ctl status`` can miss a running server for a moment; the start that follows
    recognises its own postmaster on the port instead of calling it a foreign process."""
    with own_cluster() as server:
        postmaster = (server.data_dir / "postmaster.pid").read_text().split()[0]
        with monkeypatch.context() as patched:
            patched.setattr(EmbeddedServer, "is_running", lambda self: False)
            assert server.ensure_running() == server.url()
        assert (server.data_dir / "postmaster.pid").read_text().split()[0] == postmaster
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("select 1").fetchone() == (1,)


def test_a_foreign_process_on_the_port_is_named_and_no_data_is_at_risk(monkeypatch) -> None:
    monkeypatch.setattr(embedded, "PORT_RELEASE_SECONDS", 0.5)
    with own_cluster() as server:
        server.stop()
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", server.port))
            squatter.listen()
            with pytest.raises(EmbeddedServerError) as refused:
                server.ensure_running()
        message = str(refused.value)
        assert message == (
            f"port {server.port}, where the embedded server in {server.root} listens, is taken "
            "by another process; stop that process, or set SOLEFLIP_EMBEDDED_DIR to another "
            "directory for a new server"
        )
        assert "delete" not in message
        assert (server.data_dir / "PG_VERSION").exists()
        assert server.ensure_running() == server.url()  # the port is free again: it starts
