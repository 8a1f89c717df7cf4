"""`views refresh` with nothing to do answers from PostgreSQL alone: no Dagster run, no
Dagster import; with anything to do it starts the run as before."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg
import pytest

from soleflip_bi.cli.main import main
from soleflip_bi.views.registry import VIEWS
from soleflip_bi_tests.support.orders import add_sale_orders, orders_in_view


def test_the_command_line_loads_without_dagster() -> None:
    probe = (
        "import sys, soleflip_bi.cli.main; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'dagster_graphql')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_refresh_with_nothing_changed_starts_no_run_and_a_change_starts_one(
    module_demo_database_url: str,
    use_database,
    instance: dg.DagsterInstance,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_database(module_demo_database_url)
    assert main(["views", "refresh", "--all"]) == 0  # builds everything: one run
    assert len(instance.get_run_records()) == 1
    capsys.readouterr()

    assert main(["views", "refresh", "--all"]) == 0
    out = capsys.readouterr().out
    assert "no Dagster run started" in out
    assert out.count(" current ") == 11
    assert len(instance.get_run_records()) == 1

    before = orders_in_view(module_demo_database_url)
    add_sale_orders(module_demo_database_url, count=2)
    assert main(["views", "refresh", "--all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "no Dagster run started" not in lines
    run_id = instance.get_run_records()[0].dagster_run.run_id  # the newest run
    # The run is named when it starts, each view as its step records it, the outcome last.
    assert lines[0] == f"Dagster run {run_id} started"
    views = [line.split()[0] for line in lines[1:-1] if not line.startswith("check failed:")]
    assert sorted(views) == sorted(v.name for v in VIEWS)
    assert lines[-1] == f"Dagster run {run_id}: succeeded (the UI shows it under /runs/{run_id})"
    assert len(instance.get_run_records()) == 2
    assert orders_in_view(module_demo_database_url) == before + 2

    assert main(["views", "refresh", "--all", "--always-run"]) == 0
    assert len(instance.get_run_records()) == 3
    assert "skipped" in capsys.readouterr().out


def test_migrate_pg_cron_on_a_server_without_pg_cron_is_one_line(
    scratch_database_url: str, use_database, capsys: pytest.CaptureFixture[str]
) -> None:
    """The embedded server loads no pg_cron, so no job can run: nothing to retire, exit 0."""
    use_database(scratch_database_url)
    assert main(["migrate", "pg-cron"]) == 0
    assert capsys.readouterr().out == (
        "pg_cron is not loaded by this server (it has no cron.database_name): nothing to retire\n"
    )


def test_a_malformed_url_for_pg_crons_database_is_one_line_without_it(
    scratch_database_url: str, use_database, capsys: pytest.CaptureFixture[str]
) -> None:
    use_database(scratch_database_url)
    bad = "postgresql://shop:s3cret@[::1/postgres"
    assert main(["migrate", "pg-cron", "--cron-database-url", bad]) == 1
    [error] = capsys.readouterr().err.splitlines()
    assert error == (
        "soleflip-bi: error: the URL given for pg_cron's database (--cron-database-url or "
        "SOLEFLIP_CRON_DATABASE_URL) is not a valid libpq URL (not shown: it may contain a "
        "password)"
    )
