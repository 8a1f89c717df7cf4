"""The Dagster instance: its storage, and the home the CLI and the demo use.

``dagster.yaml`` names :class:`ShopStorage`, so one file serves production, the demo, the
tests and Dagster's own commands typed in the checkout (``dg dev``, ``dg check defs``,
``dagster dev``): with ``DAGSTER_POSTGRES_URL`` set the storage lives there; unset, in the
``dagster`` database of the embedded server, which is started when needed. One instance
per shop database: another database of the embedded server gets ``dagster_<name>`` and a
home of its own; a shop database on another server needs ``DAGSTER_POSTGRES_URL``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy
from dagster._config import Field, StringSource
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import create_pg_engine
from psycopg.conninfo import conninfo_to_dict

from soleflip_bi.database.embedded import DATABASE as EMBEDDED_SHOP_DATABASE
from soleflip_bi.database.embedded import EmbeddedServerError, default_server
from soleflip_bi.shared import settings

DAGSTER_DATABASE = "dagster"
URL_VARIABLE = "DAGSTER_POSTGRES_URL"


class StorageNotConfigured(EmbeddedServerError):
    """Dagster's storage would have to be guessed for a shop database of the operator's."""


def storage_url(variable: str = URL_VARIABLE) -> str:
    """The storage URL from ``variable``, else the embedded server's ``dagster`` database.

    The embedded URL is put into the environment, so the processes Dagster starts (run
    workers, code servers) inherit it instead of asking the server again. When the shop
    database is on another server (SOLEFLIP_DATABASE_URL), the embedded server is never
    started behind the operator's back, and its run history never mixed with that
    database's: Dagster's storage must then be named (stop with one sentence otherwise).
    """
    url = os.environ.get(variable)
    if not url:
        shop = settings.database_url_override()
        if shop and not on_embedded_server(shop):
            raise StorageNotConfigured(
                f"SOLEFLIP_DATABASE_URL points at {_where(shop)}, not the embedded server, "
                f"and {variable} is not set: set {variable} to a PostgreSQL database for "
                "Dagster's run history (a database of that server will do); the embedded "
                "server is not started for it"
            )
        server = default_server()
        server.ensure_running()
        url = os.environ[variable] = server.create_database(dagster_database())
    return url


def other_embedded_database() -> str | None:
    """The database SOLEFLIP_DATABASE_URL names on the embedded server, unless it is the
    embedded shop database itself."""
    shop = settings.database_url_override()
    if not shop or not on_embedded_server(shop):
        return None
    name = conninfo_to_dict(shop).get("dbname")
    return None if name in (None, EMBEDDED_SHOP_DATABASE) else name


def dagster_database() -> str:
    """The embedded server's database for Dagster's storage: ``dagster`` for the embedded
    shop database, ``dagster_<name>`` for another database of that server, so that a run
    against it never shows, or fails, in the demo's instance."""
    other = other_embedded_database()
    if other is None:
        return DAGSTER_DATABASE
    return f"{DAGSTER_DATABASE}_{re.sub(r'[^a-z0-9_]', '_', other.lower())}"[:63]


def on_embedded_server(url: str) -> bool:
    """Whether ``url`` is a database of this checkout's embedded server."""
    server = default_server()
    if not server.is_initialised():
        return False
    params = conninfo_to_dict(url)
    host = params.get("hostaddr") or params.get("host") or "localhost"
    local = host in ("127.0.0.1", "localhost", "::1") or host.startswith("/")
    return local and int(params.get("port") or 5432) == server.port


def _where(url: str) -> str:
    params = conninfo_to_dict(url)
    return f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"


# Connections each storage keeps open between uses, and how many more it may open at once.
POOL_SIZE = 1
POOL_OVERFLOW = 8


def _pooled_engine(url: str) -> sqlalchemy.engine.Engine:
    """An engine that keeps a connection open between statements.

    dagster-postgres opens a new connection for every statement by default (NullPool, so
    that instances never accumulate connections); a refresh run writes a few hundred events
    and so opened some eight hundred connections, a second and a half of a demo-sized run.
    A kept connection is checked before each use (``pool_pre_ping``), so one that a server
    restart closed is replaced rather than failing a statement.
    """
    return create_pg_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_pre_ping=True,
    )


StorageClass = TypeVar("StorageClass", bound=type)


def _pooled(storage_class: StorageClass) -> StorageClass:
    """``storage_class`` (one of dagster-postgres's three) on a :func:`_pooled_engine`,
    whose connections go when the instance is disposed."""

    class Pooled(storage_class):  # type: ignore[misc,valid-type]
        def __init__(self, postgres_url: str) -> None:
            super().__init__(postgres_url)
            self._engine = _pooled_engine(postgres_url)

        def dispose(self) -> None:
            super().dispose()
            self._engine.dispose()

    Pooled.__name__ = Pooled.__qualname__ = f"Pooled{storage_class.__name__}"
    return Pooled  # type: ignore[return-value]


_PooledRunStorage = _pooled(PostgresRunStorage)
_PooledEventLogStorage = _pooled(PostgresEventLogStorage)
_PooledScheduleStorage = _pooled(PostgresScheduleStorage)


class ShopStorage(DagsterPostgresStorage):
    """Dagster's PostgreSQL storage (dagster-postgres), at the URL :func:`storage_url` finds,
    keeping its connections between statements (:func:`_pooled_engine`)."""

    def __init__(self, postgres_url: str, inst_data: ConfigurableClassData | None = None) -> None:
        # DagsterPostgresStorage.__init__ with the pooled storages in place of its own
        self.postgres_url = postgres_url
        self.should_autocreate_tables = True
        self._inst_data = inst_data
        self._run_storage = _PooledRunStorage(postgres_url)
        self._event_log_storage = _PooledEventLogStorage(postgres_url)
        self._schedule_storage = _PooledScheduleStorage(postgres_url)
        super(DagsterPostgresStorage, self).__init__()

    @classmethod
    def config_type(cls) -> dict[str, Field]:  # ty: ignore[invalid-method-override]
        return {"postgres_url_variable": Field(StringSource, default_value=URL_VARIABLE)}

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> ShopStorage:
        return cls(
            postgres_url=storage_url(config_value["postgres_url_variable"]), inst_data=inst_data
        )


def dagster_home() -> Path:
    """DAGSTER_HOME, else the project's own: ``.dagster_home``, or for another database of
    the embedded server ``.dagster_home/databases/<name>`` (an instance per database)."""
    if "DAGSTER_HOME" in os.environ:
        return Path(os.environ["DAGSTER_HOME"])
    own = settings.PROJECT_ROOT / ".dagster_home"
    other = other_embedded_database()
    return own if other is None else own / "databases" / dagster_database()


def prepare_dagster_environment() -> dict[str, str]:
    """Make DAGSTER_HOME and the storage usable; return the variables set."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    project = settings.PROJECT_ROOT / "dagster.yaml"
    # The project's own home follows the project's settings; an operator's DAGSTER_HOME
    # keeps the dagster.yaml it has.
    own = "DAGSTER_HOME" not in os.environ
    if not config.exists() or (own and config.read_bytes() != project.read_bytes()):
        shutil.copyfile(project, config)
    env = {"DAGSTER_HOME": str(home), URL_VARIABLE: storage_url()}
    os.environ.update(env)
    return env
