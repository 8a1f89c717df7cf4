"""Every column explains itself: one description per column, written beside the view's SQL,
equal to the live relation's columns and types, stored as PostgreSQL column comments that
survive a swap, a rebuild and a drift repair, shown in the Dagster UI's column schema (the
definition and every materialization) and in docs/DATA_DICTIONARY.md."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import psycopg
import pytest

from soleflip_bi.cleaned.layer import DOCUMENTED_TABLES, documented_columns
from soleflip_bi.database.comments import live_column_comments
from soleflip_bi.definitions import defs
from soleflip_bi.shared import settings
from soleflip_bi.views.assets import view_asset_key
from soleflip_bi.views.dictionary import render_dictionary
from soleflip_bi.views.materialize import RefreshMode, materialize_view, view_columns
from soleflip_bi.views.registry import VIEWS, get_view
from soleflip_bi_tests.support.shop import new_shop

DICTIONARY = settings.PROJECT_ROOT / "docs" / "DATA_DICTIONARY.md"


@pytest.fixture(scope="module")
def built_shop() -> Iterator[str]:
    with new_shop(orders=300, seed=8) as url:
        yield url


def _documented(name: str):
    return get_view(name).columns if name not in DOCUMENTED_TABLES else documented_columns(name)


@pytest.mark.parametrize("name", [spec.name for spec in VIEWS] + list(DOCUMENTED_TABLES))
def test_the_description_file_lists_every_live_column_with_its_type(
    built_shop: str, name: str
) -> None:
    """A column added to the SQL without a description (or one renamed) fails here."""
    documented = _documented(name)
    with psycopg.connect(built_shop) as conn:
        live = view_columns(conn, name)
        comments = live_column_comments(conn, "analytics", name)
    assert [(c.name, c.type) for c in documented] == list(live)
    assert all(len(c.description) > 20 for c in documented), "a description says something"
    assert comments == {c.name: c.description for c in documented}


def test_comments_survive_a_swap_a_rebuild_and_a_drift_repair(built_shop: str) -> None:
    status = get_view("metabase_inventory_status")  # refreshed by a swap
    product = get_view("metabase_product_performance")
    expected = {c.name: c.description for c in status.columns}
    with psycopg.connect(built_shop) as conn:
        conn.execute(
            "update inventory.stock set color = coalesce(color, '') || '.' where ctid = "
            "(select ctid from inventory.stock limit 1)"
        )
        conn.commit()
        assert materialize_view(conn, status).mode is RefreshMode.SWAP
        assert live_column_comments(conn, "analytics", status.name) == expected

        conn.execute(  # built from an older registry entry: rebuilt
            "comment on materialized view analytics.metabase_inventory_status is "
            "'soleflip_bi definition 0000000000000000'"
        )
        conn.commit()
        assert materialize_view(conn, status).mode is RefreshMode.REBUILD
        assert live_column_comments(conn, "analytics", status.name) == expected

        conn.execute("comment on column analytics.metabase_product_performance.avg_roi is null")
        conn.commit()
        result = materialize_view(conn, product)
        assert result.mode is RefreshMode.REBUILD
        assert result.drift == ("the comments of 1 column(s) are not the registry's: avg_roi",)
        assert live_column_comments(conn, "analytics", product.name)["avg_roi"] == next(
            c.description for c in product.columns if c.name == "avg_roi"
        )


def test_the_asset_definitions_carry_the_described_column_schema() -> None:
    graph = defs.get_repository_def().asset_graph
    for spec in VIEWS:
        schema = graph.get(view_asset_key(spec.name)).metadata["dagster/column_schema"]
        assert [(c.name, c.type, c.description) for c in schema.columns] == [
            (c.name, c.type, c.description) for c in spec.columns
        ]


def test_a_materialization_shows_each_columns_description(
    built_shop: str, instance: dg.DagsterInstance, use_database
) -> None:
    use_database(built_shop)
    spec = get_view("metabase_executive_metrics")
    result = dg.materialize(
        defs.assets or [],
        selection=dg.AssetSelection.assets(view_asset_key(spec.name)),
        instance=instance,
        resources=defs.resources,
    )
    [event] = result.asset_materializations_for_node(f"refresh_{spec.name}")
    columns = event.metadata["dagster/column_schema"].value.columns
    assert [(c.name, c.description) for c in columns] == [
        (c.name, c.description) for c in spec.columns
    ]


def test_the_data_dictionary_is_up_to_date() -> None:
    assert DICTIONARY.read_text() == render_dictionary(), (
        "docs/DATA_DICTIONARY.md is out of date: "
        "`.venv/bin/soleflip-bi views dictionary > docs/DATA_DICTIONARY.md`"
    )
    for spec in VIEWS:
        assert f"## `analytics.{spec.name}`" in DICTIONARY.read_text()
