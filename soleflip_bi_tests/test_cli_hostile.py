"""Hostile command-line arguments: a clear error, exit status 2, and nothing executed.

View names are looked up in the registry before any connection is opened, so SQL in a
name can never reach the database. Each case compares the database (every relation in the
project's schemas, exact row counts, view definitions, the refresh log) and the Dagster
instance (no run recorded) before and after.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from soleflip_bi.cli.main import main
from soleflip_bi.shared import settings
from soleflip_bi_tests.support.figures import report
from soleflip_bi_tests.support.shop import new_shop

HOSTILE_NAMES = (
    'x; drop table sales."order"',
    "metabase_executive_metrics; drop schema analytics cascade",
    'metabase_executive_metrics"; drop table sales."order"; --',
    "analytics.metabase_executive_metrics",
    "METABASE_EXECUTIVE_METRICS",
    " metabase_executive_metrics",
    "metabase_executive_metrics\n; drop table inventory.stock",
    "' or 1=1 --",
    "../../../etc/passwd",
    "%s %(name)s {0}",
    "métabase_executive_metrics",
    "😀",
)
COMMANDS = (("views", "refresh"), ("views", "drop"), ("views", "status"))
SCHEMAS = ("analytics", "soleflip_bi", "sales", "inventory", "catalog", "platform", "supplier")


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    with new_shop(orders=300, seed=4) as url:
        yield url


def database_state(url: str) -> dict[str, object]:
    """Every relation of the project's schemas with its exact row count and comment."""
    with psycopg.connect(url, autocommit=True) as conn:
        relations = conn.execute(
            """
            select n.nspname, c.relname, c.relkind, obj_description(c.oid, 'pg_class')
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = any(%s) order by 1, 2
            """,
            (list(SCHEMAS),),
        ).fetchall()
        state: dict[str, object] = {}
        for schema, name, kind, comment in relations:
            rows = None
            if kind in ("r", "m", "v"):
                query = sql.SQL("select count(*) from {}").format(sql.Identifier(schema, name))
                rows = conn.execute(query).fetchone()[0]
            state[f"{schema}.{name}"] = (kind, rows, comment)
    return state


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_unknown_or_sql_view_names_are_refused_and_nothing_runs(
    shop: str, instance, use_database, capsys, command: tuple[str, str]
) -> None:
    use_database(shop)
    before = database_state(shop)
    statuses, stderr_lines = [], []
    for name in HOSTILE_NAMES:
        status = main([*command, name])

        err = capsys.readouterr().err
        statuses.append(status)
        stderr_lines.append(len(err.splitlines()))
        assert status == 2, name
        assert len(err.splitlines()) == 1, err
        assert err.startswith("soleflip-bi: error: unknown view "), err
        assert "registered views: " in err
    after = database_state(shop)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    runs = instance.get_runs_count()
    assert changed == []
    assert runs == 0
    report(
        capsys,
        f"cli_hostile_{'_'.join(command)}",
        names_tried=len(statuses),
        exit_status=sorted(set(statuses)),
        stderr_lines=sorted(set(stderr_lines)),
        relations_compared=len(before),
        database_changes=len(changed),
        dagster_runs=runs,
    )


def test_sql_in_a_tier_is_refused_by_the_parser(shop: str, use_database, capsys) -> None:
    use_database(shop)
    before = database_state(shop)
    with pytest.raises(SystemExit) as exit_info:
        main(["views", "refresh", "--tier", "hourly; drop schema analytics cascade"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err.splitlines()[-1]
    assert database_state(shop) == before


def test_the_console_script_refuses_with_one_line(shop: str, dagster_home: Path) -> None:
    before = database_state(shop)
    script = Path(sys.executable).parent / "soleflip-bi"
    result = subprocess.run(
        [str(script), "views", "drop", 'x"; drop table sales."order"; --'],
        env={**os.environ, "SOLEFLIP_DATABASE_URL": shop},
        cwd=settings.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("soleflip-bi: error: unknown view ")
    assert database_state(shop) == before
