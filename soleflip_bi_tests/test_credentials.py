"""No credential in run logs, events, metadata, tick errors or command output.

The database URL carries a password (the embedded server trusts loopback, so any password
logs in; what matters here is where the string ends up). Views are refreshed through the
real definitions, then refreshes are made to fail in the ways that print connection
details: a lock timeout, an unreachable server, a malformed URL. Afterwards every run,
every event, every file under DAGSTER_HOME, every row of Dagster's storage database and
everything written to the terminal is searched for the password.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from dagster._serdes import serialize_value
from dagster._utils.error import serializable_error_info_from_exc_info
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from soleflip_bi.automation.sensors import build_change_sensor
from soleflip_bi.cli.main import main
from soleflip_bi.database import steps
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.definitions import defs
from soleflip_bi.roles.refresh import create_refresh_role
from soleflip_bi.views.assets import build_view_asset
from soleflip_bi.views.registry import VIEWS, get_view
from soleflip_bi.views.runs import refresh_views
from soleflip_bi_tests.support.figures import report
from soleflip_bi_tests.support.orders import add_sale_orders
from soleflip_bi_tests.support.shop import stock_shop

PASSWORD = "S3cretPassw0rd"


@pytest.fixture
def secret_url(scratch_database_url: str) -> Iterator[str]:
    """The shop database, reached by a refresh role whose URL carries the password
    (the administrator's URL stays ``scratch_database_url``)."""
    stock_shop(scratch_database_url, orders=300, seed=8)
    role = f"soleflip_refresh_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(scratch_database_url) as conn:
        create_refresh_role(conn, role, PASSWORD)
    yield make_conninfo(scratch_database_url, user=role, password=PASSWORD)
    with psycopg.connect(scratch_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop owned by {} cascade").format(sql.Identifier(role)))
        conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def _as_url(conninfo: str, **changes: str) -> str:
    """The postgresql:// URL form people put in SOLEFLIP_DATABASE_URL."""
    params = conninfo_to_dict(conninfo) | changes
    return (
        f"postgresql://{params['user']}:{params['password']}@{params['host']}:{params['port']}"
        f"/{params['dbname']}"
    )


def _leaks_in_instance(instance: dg.DagsterInstance) -> tuple[list[str], int, int]:
    leaks, events = [], 0
    records = instance.get_run_records()
    for record in records:
        run = record.dagster_run
        if PASSWORD in serialize_value(run):
            leaks.append(f"run {run.run_id} (config or tags)")
        for entry in instance.all_logs(run.run_id):
            events += 1
            if PASSWORD in serialize_value(entry):
                leaks.append(f"run {run.run_id}: {entry.dagster_event_type or 'log'}")
    return leaks, len(records), events


def _leaks_in_storage(storage_url: str) -> tuple[list[str], int]:
    """Every row of every table of Dagster's storage database, as text."""
    leaks, rows = [], 0
    with psycopg.connect(storage_url, autocommit=True) as conn:
        tables = conn.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'public' and table_type = 'BASE TABLE'"
        ).fetchall()
        for (table,) in tables:
            total, found = conn.execute(
                sql.SQL(
                    "select count(*), count(*) filter (where t::text like %s) from {} t"
                ).format(sql.Identifier(table)),
                (f"%{PASSWORD}%",),
            ).fetchone()
            rows += total
            if found:
                leaks.append(f"storage table {table}: {found} rows")
    return leaks, rows


def _leaks_in_files(home: Path) -> tuple[list[str], int]:
    files = [path for path in home.rglob("*") if path.is_file()]
    leaks = [str(p) for p in files if PASSWORD in p.read_text(errors="replace")]
    return leaks, len(files)


def _failing_sensor_tick(instance: dg.DagsterInstance) -> str:
    """The error a daemon would store for a tick that cannot reach the database."""
    context = dg.build_sensor_context(
        instance=instance,
        resources={"postgres": PostgresResource()},
        repository_def=defs.get_repository_def(),
    )
    try:
        build_change_sensor().evaluate_tick(context)
    except Exception:
        return serialize_value(serializable_error_info_from_exc_info(sys.exc_info()))
    raise AssertionError("the tick was expected to fail")


def test_the_password_never_reaches_dagster_or_the_terminal(
    scratch_database_url: str,
    secret_url: str,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    dagster_home = Path(instance.root_directory)  # the instance's own DAGSTER_HOME
    assert os.environ["DAGSTER_HOME"] == str(dagster_home)
    monkeypatch.setattr(steps, "FIRST_RETRY_DELAY_SECONDS", 0)
    spec = get_view("sales_summary_daily")
    url = _as_url(secret_url)
    monkeypatch.setenv("SOLEFLIP_DATABASE_URL", url)

    # 1. Every view refreshed through the code location's own resource.
    assert refresh_views(defs, list(VIEWS), instance).success

    # 2. A lock timeout on every attempt: a foreign refresh holds the view.
    add_sale_orders(scratch_database_url, 1)  # something to refresh, so it is not skipped
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(secret_url) as conn:
            conn.execute(f"refresh materialized view concurrently analytics.{spec.name}")
            holding.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(30)
    try:
        locked = dg.materialize(
            [build_view_asset(spec)],
            instance=instance,
            resources={"postgres": PostgresResource(lock_timeout_ms=200)},
            raise_on_error=False,
        )
    finally:
        release.set()
        holder.join()
    assert not locked.success

    # 3. The server cannot be reached; 4. the URL is malformed around the password.
    broken = {
        "unreachable": _as_url(secret_url, port="1"),
        "malformed": url.replace(PASSWORD, PASSWORD + "%zz"),
    }
    tick_errors, cli_errors, terminal = [], [], []
    for variant in broken.values():
        monkeypatch.setenv("SOLEFLIP_DATABASE_URL", variant)
        failed = dg.materialize(
            [build_view_asset(spec)],
            instance=instance,
            resources={"postgres": PostgresResource()},
            raise_on_error=False,
        )
        assert not failed.success
        tick_errors.append(_failing_sensor_tick(instance))
        terminal.append(str(capfd.readouterr()))
        assert main(["views", "status"]) == 2
        cli_errors.append(capfd.readouterr().err)

    instance_leaks, runs, events = _leaks_in_instance(instance)
    storage_leaks, rows = _leaks_in_storage(os.environ["DAGSTER_POSTGRES_URL"])
    file_leaks, files = _leaks_in_files(dagster_home)
    terminal.append(str(capfd.readouterr()))
    leaks = [
        *instance_leaks,
        *storage_leaks,
        *file_leaks,
        *[
            f"sensor tick error ({n})"
            for n, e in zip(broken, tick_errors, strict=True)
            if PASSWORD in e
        ],
        *[f"cli stderr ({n})" for n, e in zip(broken, cli_errors, strict=True) if PASSWORD in e],
        *(["terminal"] if any(PASSWORD in text for text in terminal) else []),
    ]
    assert leaks == [], "\n".join(leaks)
    assert min(runs, events, rows, files) > 0, "the search must have had something to search"
    assert all(e.startswith("soleflip-bi: error: ") for e in cli_errors), cli_errors
    report(
        capfd,
        "credentials_not_leaked",
        runs_scanned=runs,
        events_scanned=events,
        storage_rows_scanned=rows,
        files_scanned=files,
        failure_modes=["lock timeout", *broken],
        leaks=len(leaks),
    )
