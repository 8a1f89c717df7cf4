"""A PostgreSQL server that is not the embedded one: Debian's ``postgresql-15`` package,
set up as a shop's server is.

* SCRAM passwords for every connection (``pg_hba.conf``: ``scram-sha-256``, nothing
  trusted), on 127.0.0.1 and a socket of its own;
* the shop database ``soleflip`` owned by its own role ``shop_owner``, and Dagster's
  storage in a database ``dagster`` of role ``dagster``;
* ``pg_cron`` preloaded (``postgresql-15-cron``) with its jobs in the shop database, as
  the old system ran it; or, with ``cron_database=None``, as pg_cron's own documentation
  sets it up: ``cron.database_name`` unset (so ``postgres``), the extension created there,
  and jobs for the shop made from there with ``cron.schedule_in_database``.

The packages come from ``apt-get`` in ``.ci/run``; where they are missing the tests that
need them skip with one line naming the package.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from soleflip_bi.shared import settings

VERSION = 15
BIN = Path(f"/usr/lib/postgresql/{VERSION}/bin")
CRON_CONTROL = Path(f"/usr/share/postgresql/{VERSION}/extension/pg_cron.control")
CRON = f"postgresql-{VERSION}-cron"
SERVER_USER = "nobody"  # initdb refuses root


@dataclass(frozen=True)
class DebianServer:
    port: int
    superuser_password: str
    shop_password: str
    dagster_password: str

    def url(self, user: str, password: str, database: str) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    @property
    def superuser_url(self) -> str:
        return self.url("postgres", self.superuser_password, "soleflip")

    @property
    def shop_url(self) -> str:
        return self.url("shop_owner", self.shop_password, "soleflip")

    @property
    def dagster_url(self) -> str:
        return self.url("dagster", self.dagster_password, "dagster")


def require_packages(cron: bool = False) -> None:
    """Skip, in one line, when Debian's packages are not installed."""
    for package, path in ((f"postgresql-{VERSION}", BIN / "initdb"), (CRON, CRON_CONTROL)):
        if (package == CRON and not cron) or path.exists():
            continue
        pytest.skip(f"Debian's {package} is not installed (apt-get install {package})")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(argv: list[str]) -> subprocess.CompletedProcess[str]:
    user = SERVER_USER if os.geteuid() == 0 else None
    result = subprocess.run(argv, capture_output=True, text=True, user=user, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed: {result.stderr or result.stdout}")
    return result


@contextmanager
def debian_server(cron_database: str | None = "soleflip") -> Iterator[DebianServer]:
    """Start a new cluster of Debian's PostgreSQL 15, set up as above; removed afterwards."""
    require_packages(cron=True)
    root = Path(tempfile.mkdtemp(prefix="soleflip-pg15-", dir="/tmp"))
    data, password_file = root / "data", root / "superuser-password"
    server = DebianServer(_free_port(), *(secrets.token_urlsafe(16) for _ in range(3)))
    password_file.write_text(server.superuser_password + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, SERVER_USER)
        shutil.chown(password_file, SERVER_USER)
    try:
        _as_server_user(
            [
                str(BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ]
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {server.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{root}'\npassword_encryption = 'scram-sha-256'\n"
                "shared_preload_libraries = 'pg_cron'\n"
                "timezone = 'UTC'\nfsync = off\ncron.use_background_workers = on\n"
            )
            if cron_database:
                conf.write(f"cron.database_name = '{cron_database}'\n")
        _as_server_user(
            [str(BIN / "pg_ctl"), "start", "-D", str(data), "-l", str(root / "log"), "-w"]
        )
        _set_up(server, cron_database or "postgres")
        yield server
    finally:
        if (data / "postmaster.pid").exists():
            _as_server_user([str(BIN / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate"])
        shutil.rmtree(root, ignore_errors=True)


def _set_up(server: DebianServer, cron_database: str) -> None:
    admin = server.url("postgres", server.superuser_password, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        for role, password in (
            ("shop_owner", server.shop_password),
            ("dagster", server.dagster_password),
        ):
            conn.execute(
                sql.SQL("create role {} login password {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        conn.execute("create database soleflip owner shop_owner")
        conn.execute("create database dagster owner dagster")
    cron_url = server.url("postgres", server.superuser_password, cron_database)
    with psycopg.connect(cron_url, autocommit=True) as conn:
        conn.execute("create extension pg_cron")
        # the shop's owner schedules its own jobs, as the old system did
        conn.execute("grant usage on schema cron to shop_owner")


@contextmanager
def commands_on(server: DebianServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[DebianServer]:
    """The commands pointed at ``server``'s shop as its owner, with Dagster's storage in its
    ``dagster`` database and a DAGSTER_HOME of their own (removed afterwards)."""
    home = settings.PROJECT_ROOT / f".tmp_dagster_home_{uuid.uuid4().hex[:8]}"
    home.mkdir()
    shutil.copyfile(settings.PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("SOLEFLIP_DATABASE_URL", server.shop_url)
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", server.dagster_url)
    try:
        yield server
    finally:
        shutil.rmtree(home, ignore_errors=True)
