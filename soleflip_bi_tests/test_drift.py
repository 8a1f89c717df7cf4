"""Hand-made changes to a view are seen (a warning check, `views status`) and repaired.

An index dropped by hand, one added by hand, the query replaced, a plain view put in the
place of the materialized one: each is reported by `views status` and by the view's
``definition_current`` check (severity WARN) of the next refresh, which rebuilds the view
from the registry; the refresh after that finds nothing.
"""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from soleflip_bi.cli.main import main
from soleflip_bi.definitions import defs
from soleflip_bi.views.assets import view_asset_key
from soleflip_bi.views.drift import drift
from soleflip_bi.views.registry import get_view
from soleflip_bi.views.runs import refresh_views
from soleflip_bi.views.status import view_status
from soleflip_bi_tests.support.built_views import record_as_built
from soleflip_bi_tests.support.shop import stock_shop

EXEC = "metabase_executive_metrics"


@pytest.fixture
def shop(scratch_database_url: str) -> str:
    return stock_shop(scratch_database_url, orders=300, seed=13)


def _drift_check(result: dg.ExecuteInProcessResult, view: str) -> dg.AssetCheckEvaluation:
    [evaluation] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == view_asset_key(view) and e.check_name == "definition_current"
    ]
    return evaluation


def _indexes(url: str, view: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select indexname from pg_indexes where schemaname = 'analytics' and tablename = %s",
            (view,),
        ).fetchall()
    return {row[0] for row in rows}


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        ("drop index analytics.idx_exec_metrics_date", "index idx_exec_metrics_date is missing"),
        (
            f"create index by_hand on analytics.{EXEC} (total_orders)",
            "index by_hand is not in the registry (the next rebuild drops it)",
        ),
    ],
    ids=["index-dropped", "index-added"],
)
def test_an_index_changed_by_hand_warns_and_the_refresh_repairs_it(
    shop: str, instance, use_database, capsys, change: str, finding: str
) -> None:
    spec = get_view(EXEC)
    expected = {index.name for index in spec.indexes}
    with psycopg.connect(shop, autocommit=True) as conn:
        assert drift(conn, spec) == []
        conn.execute(change)
        assert view_status(conn, spec).drift == [finding]
    use_database(shop)
    assert main(["views", "status", EXEC]) == 0
    out = capsys.readouterr().out
    assert f"  drift: {finding}\n" in out
    assert "1 view(s) differ from the registry; the next refresh of each rebuilds it" in out

    first = refresh_views(defs, [spec], instance)

    check = _drift_check(first, EXEC)
    assert not check.passed and check.severity is dg.AssetCheckSeverity.WARN
    assert check.metadata["found"].value == [finding]
    assert check.metadata["repaired_by_rebuild"].value is True
    [event] = first.asset_materializations_for_node(f"refresh_{EXEC}")
    assert event.metadata["refresh_mode"].value == "rebuild"
    assert _indexes(shop, EXEC) == expected

    second = refresh_views(defs, [spec], instance)
    assert _drift_check(second, EXEC).passed
    with psycopg.connect(shop) as conn:
        assert view_status(conn, spec).drift == []


def test_a_view_replaced_by_hand_is_built_again_from_the_registry(
    shop: str, instance, use_database
) -> None:
    """A relation soleflip-bi did not build is drift, whatever its name and comment say:
    the record of the build names another oid."""
    use_database(shop)
    spec = get_view(EXEC)
    with psycopg.connect(shop, autocommit=True) as conn:
        rows = conn.execute(f"select count(*) from analytics.{EXEC}").fetchone()[0]
        conn.execute(f"drop materialized view analytics.{EXEC}")
        conn.execute(
            f"create materialized view analytics.{EXEC} as "
            "select * from analytics.sales_summary_daily limit 3"
        )
        conn.execute(
            sql.SQL("comment on materialized view {} is {}").format(
                sql.Identifier("analytics", EXEC), sql.Literal(spec.description)
            )
        )
        assert drift(conn, spec) == [
            f"analytics.{EXEC} was not built by soleflip-bi (made by hand?)"
        ]
        record_as_built(conn, EXEC, spec.definition_hash)  # as if: query and indexes differ
        assert drift(conn, spec) == [
            "its query is not the registry's SQL (replaced by hand?)",
            *(f"index {index.name} is missing" for index in spec.indexes),
        ]
        record_as_built(conn, EXEC, "0")
        assert drift(conn, spec) == []  # an older definition: a change, not drift
        conn.execute("delete from soleflip_bi.view_definition where view_name = %s", (EXEC,))

    result = refresh_views(defs, [spec], instance)

    assert not _drift_check(result, EXEC).passed
    with psycopg.connect(shop) as conn:
        assert conn.execute(f"select count(*) from analytics.{EXEC}").fetchone()[0] == rows
        assert drift(conn, spec) == []


def test_a_plain_view_in_its_place_is_replaced_by_the_materialized_view(
    shop: str, instance, use_database
) -> None:
    use_database(shop)
    spec = get_view(EXEC)
    with psycopg.connect(shop, autocommit=True) as conn:
        conn.execute(f"drop materialized view analytics.{EXEC}")
        conn.execute(f"create view analytics.{EXEC} as {spec.sql.strip().rstrip(';')}")
        assert drift(conn, spec) == [f"analytics.{EXEC} is a view, not a materialized view"]

    result = refresh_views(defs, [spec], instance)

    assert result.success
    assert not _drift_check(result, EXEC).passed
    with psycopg.connect(shop) as conn:
        kind = conn.execute(
            "select relkind from pg_class where oid = %s::regclass", (f"analytics.{EXEC}",)
        ).fetchone()[0]
        assert kind == "m" and drift(conn, spec) == []
