"""pg_cron as its own documentation sets it up, on Debian's postgresql-15-cron:
``cron.database_name`` unset (so the jobs live in ``postgres``), and the shop's jobs made
from there with ``cron.schedule_in_database``. `migrate pg-cron` connected to the shop's
database finds them there, retires them, and restores them; look-alikes are left alone by
name; the record of retired jobs is out of the refresh role's reach."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from soleflip_bi.cli.main import main
from soleflip_bi.roles.refresh import create_refresh_role
from soleflip_bi.views.cron_site import cron_connection, locate
from soleflip_bi.views.pg_cron import plan, retire
from soleflip_bi_tests.support.debian_postgres import DebianServer, commands_on, debian_server
from soleflip_bi_tests.support.shop import stock_shop

# (name, schedule, command, active): the old system's refreshes, one of them paused
REFRESHES = [
    (
        "refresh_exec_metrics",
        "0 * * * *",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.metabase_executive_metrics",
        True,
    ),
    (
        "refresh_brand_every_minute",
        "* * * * *",
        "REFRESH MATERIALIZED VIEW analytics.metabase_brand_analytics",
        True,
    ),
    ("refresh_views_daily", "0 2 * * *", "select analytics.refresh_views('daily')", False),
]
# look-alikes that refresh nothing of ours
LOOK_ALIKES = [
    ("thumbnails", "*/5 * * * *", "select refresh_preview_thumbnails()"),
    ("reviews", "0 * * * *", "select shop.refresh_review_scores()"),
    ("overview", "0 * * * *", "select refresh_overview_cache()"),
    ("audit", "0 * * * *", "select audit.log_refresh_views_done()"),
    (
        "commented",
        "0 * * * *",
        "select 1 -- REFRESH MATERIALIZED VIEW analytics.metabase_executive_metrics",
    ),
]
# a job of the postgres database itself, with a command that would be ours elsewhere
ELSEWHERE = (
    "postgres_own",
    "0 5 * * *",
    "REFRESH MATERIALIZED VIEW analytics.metabase_executive_metrics",
)


@pytest.fixture(scope="module")
def pg15() -> Iterator[DebianServer]:
    with debian_server(cron_database=None) as server:
        stock_shop(server.shop_url)
        admin = server.url("postgres", server.superuser_password, "postgres")
        with psycopg.connect(admin, autocommit=True) as conn:
            for name, schedule, command, active in REFRESHES:
                conn.execute(
                    "select cron.schedule_in_database(%s, %s, %s, 'soleflip', 'shop_owner', %s)",
                    (name, schedule, command, active),
                )
            for name, schedule, command in LOOK_ALIKES:
                conn.execute(
                    "select cron.schedule_in_database(%s, %s, %s, 'soleflip', 'shop_owner')",
                    (name, schedule, command),
                )
            conn.execute("select cron.schedule(%s, %s, %s)", ELSEWHERE)
        yield server


@pytest.fixture
def as_shop_owner(pg15: DebianServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[DebianServer]:
    with commands_on(pg15, monkeypatch) as server:
        yield server


def _jobs(server: DebianServer) -> list[tuple]:
    admin = server.url("postgres", server.superuser_password, "postgres")
    with psycopg.connect(admin) as conn:
        return conn.execute(
            "select jobname, schedule, command, database, username, active from cron.job "
            "order by jobname"
        ).fetchall()


def _runs_since(server: DebianServer, since: float) -> list[str]:
    admin = server.url("postgres", server.superuser_password, "postgres")
    with psycopg.connect(admin) as conn:
        return [
            row[0]
            for row in conn.execute(
                "select j.jobname from cron.job_run_details d join cron.job j using (jobid) "
                "where d.start_time > to_timestamp(%s)",
                (since,),
            )
        ]


def test_the_default_set_up_is_planned_applied_and_restored(
    as_shop_owner: DebianServer, capsys
) -> None:
    server = as_shop_owner
    before = _jobs(server)
    admin = server.url("postgres", server.superuser_password, "postgres")

    # cron.database_name is a superuser's setting: without it, one sentence and exit 1
    assert main(["migrate", "pg-cron"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(
        "soleflip-bi: error: pg_cron is loaded, and role shop_owner may not read cron.database_name"
    )
    assert captured.err.count("\n") == 1
    assert main(["views", "status", "metabase_executive_metrics"]) == 0
    assert "role shop_owner may not read cron.database_name" in capsys.readouterr().out

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("grant pg_read_all_settings to shop_owner")

    # the plan, read from postgres: every refresh named, every look-alike left alone by name
    assert main(["migrate", "pg-cron"]) == 2
    out = capsys.readouterr().out
    assert out.startswith(
        "pg_cron keeps its jobs in database postgres (cron.database_name); jobs for soleflip:\n"
    )
    for name, *_ in REFRESHES:
        assert f"'{name}'" in out
    left_alone = [line for line in out.splitlines() if line.startswith("left alone: job ")]
    for name, schedule, _ in LOOK_ALIKES:
        assert sum(f"'{name}' ({schedule}) as shop_owner" in line for line in left_alone) == 1
    assert "refresh_views()" in out and ELSEWHERE[0] not in out
    assert "3 pg_cron job(s) refresh views soleflip-bi refreshes; 5 other job(s) left alone" in out

    # views status, as this role, sees the old jobs too
    assert main(["views", "status", "metabase_executive_metrics"]) == 0
    status = capsys.readouterr().out
    assert "drift: pg_cron job" in status and "'refresh_exec_metrics' (0 * * * *)" in status

    applied_at = time.time()
    assert main(["migrate", "pg-cron", "--apply"]) == 0
    assert "retired 3 job(s)" in capsys.readouterr().out
    left = _jobs(server)
    assert sorted(j[0] for j in left) == sorted([n for n, *_ in LOOK_ALIKES] + [ELSEWHERE[0]])
    # past the next minute boundary: pg_cron would have started the every-minute job
    time.sleep(max(0.0, 62 - (time.time() % 60)) + 3)
    assert "refresh_brand_every_minute" not in _runs_since(server, applied_at)
    assert main(["migrate", "pg-cron"]) == 0
    assert "0 pg_cron job(s) refresh views" in capsys.readouterr().out

    # the refresh role owns soleflip_bi, and cannot touch the record of retired jobs
    with psycopg.connect(server.superuser_url) as conn:
        create_refresh_role(conn, "soleflip_refresh", "refresh-password")
    refresh = server.url("soleflip_refresh", "refresh-password", "soleflip")
    for statement in (
        "update soleflip_bi_migration.retired_cron_job set command = 'select 1'",
        "delete from soleflip_bi_migration.retired_cron_job",
        "drop table soleflip_bi_migration.retired_cron_job",
        "alter schema soleflip_bi_migration rename to elsewhere",
        "create table soleflip_bi_migration.retired_cron_job_2 (x int)",
    ):
        with psycopg.connect(refresh) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)

    # restore: a plan first, then the jobs as they were (the paused one paused)
    assert main(["migrate", "pg-cron", "--restore"]) == 2
    out = capsys.readouterr().out
    assert out.count("would restore: ") == 3 and "paused as it was" in out
    assert _jobs(server) == left
    # pg_cron revokes schedule_in_database from public: one sentence, nothing scheduled
    assert main(["migrate", "pg-cron", "--restore", "--yes"]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.endswith(
        "from database postgres that takes a superuser, or EXECUTE on "
        "cron.schedule_in_database granted to role shop_owner; nothing was restored\n"
    )
    assert _jobs(server) == left
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "grant execute on function cron.schedule_in_database(text, text, text, text, "
            "text, boolean) to shop_owner"
        )
    assert main(["migrate", "pg-cron", "--restore", "--yes"]) == 0
    assert capsys.readouterr().out.count("restored job ") == 3
    assert _jobs(server) == before


def test_another_roles_jobs_are_restored_only_when_asked(
    as_shop_owner: DebianServer, monkeypatch, capsys
) -> None:
    server = as_shop_owner
    admin = server.url("postgres", server.superuser_password, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("create role reporting login")
        conn.execute("grant connect on database soleflip to reporting")
        conn.execute(
            "select cron.schedule_in_database('reporting_refresh', '0 6 * * *', "
            "'REFRESH MATERIALIZED VIEW analytics.metabase_customer_geography', 'soleflip', "
            "'reporting')"
        )
    before = _jobs(server)
    # a superuser retires every role's jobs (without the Dagster refresh that --apply runs)
    superuser = server.url("postgres", server.superuser_password, "soleflip")
    with psycopg.connect(superuser) as conn:
        site = locate(conn)
        with cron_connection(conn, site) as cron:
            retire(conn, cron, [job for job, _ in plan(cron, site).retire])
    monkeypatch.setenv("SOLEFLIP_DATABASE_URL", superuser)
    # the superuser is no job's owner: without --other-roles nothing is scheduled
    assert main(["migrate", "pg-cron", "--restore", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "kept retired: " in out and "of role reporting (--other-roles restores it)" in out
    assert "restored job" not in out
    assert main(["migrate", "pg-cron", "--restore", "--yes", "--other-roles"]) == 0
    assert capsys.readouterr().out.count("restored job ") == 4
    assert _jobs(server) == before
