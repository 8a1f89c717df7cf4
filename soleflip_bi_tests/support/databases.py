"""Databases of their own on the embedded server, so tests never touch the demo's data."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from soleflip_bi.database.embedded import EmbeddedServer, default_server
from soleflip_bi.shared import settings


def create_database(name: str) -> str:
    server = default_server()
    server.ensure_running()
    return server.create_database(name)


def drop_database(name: str) -> None:
    with psycopg.connect(default_server().url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


@contextmanager
def new_database(prefix: str = "soleflip_scratch") -> Iterator[str]:
    """An empty database, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    try:
        yield url
    finally:
        drop_database(name)
        # and the instance a CLI run against it may have made (soleflip_bi/instance.py)
        drop_database(f"dagster_{name}")
        shutil.rmtree(
            settings.PROJECT_ROOT / ".dagster_home" / "databases" / f"dagster_{name}",
            ignore_errors=True,
        )


@contextmanager
def own_cluster() -> Iterator[EmbeddedServer]:
    """A running cluster of its own (own directory and port), so stopping, restarting or
    blocking it disturbs no other test; stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="soleflip_cluster_"))
    server = EmbeddedServer(root)
    server.ensure_running()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
