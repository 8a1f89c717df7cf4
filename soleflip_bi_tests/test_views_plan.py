"""`soleflip-bi views plan [--diff]`: what a refresh of this registry would do, before it runs.

Exit 0 when every view is current, 2 when one would be created or rebuilt, 1 on an error;
``--diff`` builds the new definition beside the live view, compares them key by key and
leaves nothing behind.
"""

from __future__ import annotations

import psycopg
import pytest

from soleflip_bi.cli.main import main
from soleflip_bi.views.registry import VIEWS, get_view
from soleflip_bi_tests.support.built_views import record_as_built
from soleflip_bi_tests.support.shop import stock_shop

BRAND = "metabase_brand_analytics"


@pytest.fixture
def shop(scratch_database_url: str, use_database) -> str:
    url = stock_shop(scratch_database_url, orders=300, seed=17)
    use_database(url)
    return url


def test_nothing_to_do_exits_0(shop: str, capsys) -> None:
    assert main(["views", "plan"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"0 of {len(VIEWS)} view(s) would be created or rebuilt"
    assert all(" unchanged " in line for line in out[1:-2])
    assert out[-2] == (
        "METABASE_URL is not set: the Metabase questions that read the views are not checked"
    )


def test_a_changed_definition_is_planned_with_its_dependents_and_its_cost(
    shop: str, capsys
) -> None:
    spec = get_view(BRAND)
    with psycopg.connect(shop, autocommit=True) as conn:
        record_as_built(conn, BRAND, "0")
        conn.execute(f"create view public.brand_mail as select brand_name from analytics.{BRAND}")
        [built] = conn.execute(
            "select extract(epoch from finished_at - started_at) from soleflip_bi.refresh_log "
            "where view_name = %s order by id desc limit 1",
            (BRAND,),
        ).fetchone()

    assert main(["views", "plan"]) == 2

    out = capsys.readouterr().out
    assert f"{BRAND:<32} {'rebuild':<10} {f'{built:.2f} s':>10}\n" in out
    assert f"  because definition changed: 0 -> {spec.definition_hash}\n" in out
    assert "  created again with it: view public.brand_mail (owner " in out
    assert out.endswith(f"1 of {len(VIEWS)} view(s) would be created or rebuilt\n")


def test_diff_compares_the_rebuilt_view_with_the_live_one_and_leaves_nothing_behind(
    shop: str, capsys
) -> None:
    spec = get_view(BRAND)
    body = spec.sql.strip().rstrip(";")
    with psycopg.connect(shop, autocommit=True) as conn:
        rows = conn.execute(f"select count(*) from analytics.{BRAND}").fetchone()[0]
        conn.execute(f"drop materialized view analytics.{BRAND}")
        conn.execute(  # what an older definition held: every brand but the first
            f"create materialized view analytics.{BRAND} as select * from ({body}) v "
            f"where brand_id::text <> (select min(brand_id::text) from ({body}) w)"
        )
        record_as_built(conn, BRAND, "0")

    assert main(["views", "plan", BRAND, "--diff"]) == 2

    out = capsys.readouterr().out
    assert (
        f"  diff: {rows - 1:,} rows live, {rows:,} rebuilt; keys 1 added, 0 removed, 0 changed\n"
    ) in out
    with psycopg.connect(shop) as conn:
        assert conn.execute(f"select count(*) from analytics.{BRAND}").fetchone()[0] == rows - 1
        leftovers = conn.execute(
            "select count(*) from pg_class where relname like %s", ("%\\_\\_plan%",)
        ).fetchone()[0]
        assert leftovers == 0


def test_an_error_exits_1_in_one_sentence(shop: str, capsys) -> None:
    assert main(["views", "plan", "no_such_view"]) == 1
    [error] = capsys.readouterr().err.splitlines()
    assert error.startswith("soleflip-bi: error: ") and "no_such_view" in error
