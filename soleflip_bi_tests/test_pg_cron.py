"""Retiring the old system's pg_cron jobs on a real pg_cron (Debian's postgresql-15-cron on
PostgreSQL 15 with SCRAM passwords): plan, apply, a swap no cron refresh races, restore."""

from __future__ import annotations

import time
from collections.abc import Iterator

import dagster as dg
import psycopg
import pytest

from soleflip_bi.cleaned.assets import cleaned_layer
from soleflip_bi.cli.main import main
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.views.assets import VIEW_ASSETS
from soleflip_bi.views.pg_cron import cron_jobs, refreshed_by
from soleflip_bi_tests.support.debian_postgres import DebianServer, commands_on, debian_server
from soleflip_bi_tests.support.shop import stock_shop

# The jobs as the seeds create them (seed 001's refresh_<view> per strategy, seed 002's
# refresh_exec_metrics), spelled as a DBA might, plus one that runs every minute and one
# that has nothing to do with the views.
SEED_JOBS = {
    "refresh_exec_metrics": (
        "0 * * * *",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.metabase_executive_metrics",
    ),
    "refresh_metabase_product_performance": (
        "0 2 * * *",
        'REFRESH MATERIALIZED VIEW "analytics"."metabase_product_performance"',
    ),
    "refresh_metabase_supplier_performance": (
        "0 3 * * 1",
        "refresh materialized view Analytics . Metabase_Supplier_Performance;",
    ),
    "refresh_brand_every_minute": (
        "* * * * *",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.metabase_brand_analytics",
    ),
}
OTHER_JOB = ("vacuum_orders", "0 4 * * *", 'VACUUM ANALYZE sales."order"')


@pytest.fixture(scope="module")
def pg15() -> Iterator[DebianServer]:
    with debian_server() as server:
        stock_shop(server.shop_url)
        with psycopg.connect(server.shop_url, autocommit=True) as conn:
            for name, (schedule, command) in SEED_JOBS.items():
                conn.execute("select cron.schedule(%s, %s, %s)", (name, schedule, command))
            conn.execute("select cron.schedule(%s, %s, %s)", OTHER_JOB)
        yield server


@pytest.fixture
def on_pg15(pg15: DebianServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[DebianServer]:
    """The commands pointed at the PostgreSQL 15 shop, with Dagster's storage there too."""
    with commands_on(pg15, monkeypatch) as server:
        yield server


def _cron_runs_since(url: str, since: float) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select j.jobname, d.status from cron.job_run_details d "
            "join cron.job j using (jobid) where d.start_time > to_timestamp(%s) "
            "order by d.start_time",
            (since,),
        ).fetchall()


def test_every_spelling_of_a_refresh_is_found() -> None:
    assert refreshed_by("REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.sales_summary_daily") == (
        "sales_summary_daily",
    )
    assert refreshed_by('refresh materialized view "analytics"."inventory_status_summary"') == (
        "inventory_status_summary",
    )
    assert refreshed_by("REFRESH MATERIALIZED VIEW Metabase_Brand_Analytics") == (
        "metabase_brand_analytics",
    )
    assert refreshed_by("select analytics.refresh_all_views()") == ("refresh_all_views()",)
    # a quoted name is exact, another schema is another view, other jobs are not ours
    assert refreshed_by('REFRESH MATERIALIZED VIEW "METABASE_BRAND_ANALYTICS"') == ()
    assert refreshed_by("REFRESH MATERIALIZED VIEW reporting.inventory_status_summary") == ()
    assert refreshed_by("select refresh_search_index()") == ()


def test_plan_apply_a_swap_no_cron_races_and_restore(on_pg15: DebianServer, capsys) -> None:
    url = on_pg15.shop_url
    # the every-minute job really runs before the switch
    deadline = time.time() + 75
    while ("refresh_brand_every_minute", "succeeded") not in _cron_runs_since(url, 0):
        assert time.time() < deadline, "pg_cron never ran the every-minute job"
        time.sleep(2)

    assert main(["migrate", "pg-cron"]) == 2
    out = capsys.readouterr().out
    for name in SEED_JOBS:
        assert f"'{name}'" in out
    assert "refreshes metabase_supplier_performance" in out
    assert "4 pg_cron job(s) refresh views soleflip-bi refreshes; 1 other job(s) left alone" in out

    assert main(["views", "status", "metabase_executive_metrics"]) == 0
    status = capsys.readouterr().out
    assert "drift: pg_cron job" in status and "'refresh_exec_metrics' (0 * * * *)" in status
    # a role that is not a superuser sees only its own jobs, and is told so
    assert "pg_cron is loaded and shows role shop_owner only its own jobs" in status
    drift = _drift_check(url, "metabase_executive_metrics")
    assert not drift.passed and drift.severity is dg.AssetCheckSeverity.WARN
    assert any("refresh_exec_metrics" in f for f in drift.metadata["found"].value)

    applied_at = time.time()
    assert main(["migrate", "pg-cron", "--apply"]) == 0
    out = capsys.readouterr().out
    assert "retired 4 job(s)" in out and "succeeded" in out
    with psycopg.connect(url) as conn:
        assert [j.jobname for j in cron_jobs(conn, "soleflip")] == ["vacuum_orders"]
        recorded = conn.execute(
            "select jobname, schedule, command, database, username from "
            "soleflip_bi_migration.retired_cron_job order by jobname"
        ).fetchall()
        # a swap: the view drifted (no record of its build), so its next refresh rebuilds it
        conn.execute(
            "delete from soleflip_bi.view_definition where view_name = 'metabase_brand_analytics'"
        )
    assert recorded == sorted(
        (name, schedule, command, "soleflip", "shop_owner")
        for name, (schedule, command) in SEED_JOBS.items()
    )
    assert main(["views", "refresh", "metabase_brand_analytics"]) == 0
    assert "metabase_brand_analytics         rebuild" in capsys.readouterr().out
    assert _drift_check(url, "metabase_executive_metrics").passed
    # past the next minute boundary: pg_cron would have started the every-minute job
    time.sleep(max(0.0, 62 - (time.time() % 60)) + 3)
    assert _cron_runs_since(url, applied_at) == []

    assert main(["migrate", "pg-cron"]) == 0
    assert "0 pg_cron job(s)" in capsys.readouterr().out

    # --restore shows what it would schedule and changes nothing without --yes
    assert main(["migrate", "pg-cron", "--restore"]) == 2
    out = capsys.readouterr().out
    assert out.count("would restore: job ") == 4
    assert "run `soleflip-bi migrate pg-cron --restore --yes` to schedule 4 job(s)" in out
    with psycopg.connect(url) as conn:
        assert [j.jobname for j in cron_jobs(conn, "soleflip")] == ["vacuum_orders"]
    assert main(["migrate", "pg-cron", "--restore", "--yes"]) == 0
    assert capsys.readouterr().out.count("restored job") == 4
    with psycopg.connect(url) as conn:
        restored = sorted(
            (j.jobname, j.schedule, j.command, j.username, j.active)
            for j in cron_jobs(conn, "soleflip")
        )
    assert restored == sorted(
        [(n, s, c, "shop_owner", True) for n, (s, c) in SEED_JOBS.items()]
        + [(OTHER_JOB[0], OTHER_JOB[1], OTHER_JOB[2], "shop_owner", True)]
    )
    assert main(["migrate", "pg-cron"]) == 2
    # retire them again, so the module's other tests see the switched-over shop
    assert main(["migrate", "pg-cron", "--apply"]) == 0
    capsys.readouterr()


def test_where_the_jobs_cannot_be_found_it_says_so_and_exits_1(
    on_pg15: DebianServer, monkeypatch, capsys
) -> None:
    """A database without the extension, on a server whose pg_cron keeps its jobs in
    another one that this role may not look up: one sentence, exit 1, never "nothing"."""
    admin = on_pg15.url("postgres", on_pg15.superuser_password, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("create database without_cron owner shop_owner")
    monkeypatch.setenv(
        "SOLEFLIP_DATABASE_URL", on_pg15.url("shop_owner", on_pg15.shop_password, "without_cron")
    )
    assert main(["migrate", "pg-cron"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "soleflip-bi: error: pg_cron is loaded, and role shop_owner may not read "
        "cron.database_name, the database that holds its jobs: run this as a superuser or a "
        "member of pg_read_all_settings, or give that database with --cron-database-url\n"
    )
    # given that database, it finds that no job runs in this one
    assert main(["migrate", "pg-cron", "--cron-database-url", on_pg15.shop_url]) == 0
    assert "0 pg_cron job(s) refresh views" in capsys.readouterr().out


def test_a_wrong_password_is_one_sentence(on_pg15: DebianServer, monkeypatch, capsys) -> None:
    monkeypatch.setenv(
        "SOLEFLIP_DATABASE_URL", on_pg15.url("shop_owner", "not-the-password", "soleflip")
    )
    assert main(["migrate", "pg-cron"]) == 1
    err = capsys.readouterr().err.strip()
    assert "password authentication failed" in err and "\n" not in err


def _drift_check(url: str, view: str) -> dg.AssetCheckEvaluation:
    asset = next(a for a in VIEW_ASSETS if dg.AssetKey(["analytics", view]) in a.keys)
    result = dg.materialize(
        [cleaned_layer, asset],
        selection=[dg.AssetKey(["analytics", view])],
        resources={"postgres": PostgresResource(database_url=url)},
        instance=dg.DagsterInstance.ephemeral(),
    )
    return next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "definition_current"
    )
