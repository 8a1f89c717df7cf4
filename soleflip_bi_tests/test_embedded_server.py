"""The embedded server is a real PostgreSQL 17 that runs even when we are root."""

from __future__ import annotations

import os

import psycopg

from soleflip_bi.database.embedded import default_server


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
