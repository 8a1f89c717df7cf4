"""Every column explains itself: one description per column, written beside the view's SQL,
equal to the live relation's columns and types, stored as PostgreSQL comments that survive
a swap and a rebuild and are set in place (never by a rebuild) when they differ, shown in
the Dagster UI's column schema (the definition and every materialization) and in
docs/DATA_DICTIONARY.md."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import psycopg
import pytest

from soleflip_bi.cleaned.facts import FactsMode, refresh_order_facts
from soleflip_bi.cleaned.layer import (
    DOCUMENTED_TABLES,
    cleaned_layer_hash,
    documented_columns,
    ensure_cleaned_layer,
)
from soleflip_bi.database.comments import live_column_comments, live_relation_comment
from soleflip_bi.definitions import defs
from soleflip_bi.shared import columns, settings
from soleflip_bi.views.assets import view_asset_key
from soleflip_bi.views.definitions import LEGACY_PREFIX, BuiltFrom, built_from
from soleflip_bi.views.dictionary import render_dictionary
from soleflip_bi.views.drift import description_drift, drift
from soleflip_bi.views.materialize import (
    RefreshMode,
    materialize_view,
    nothing_to_refresh,
    view_columns,
)
from soleflip_bi.views.registry import VIEWS, VIEWS_BY_NAME, get_view
from soleflip_bi_tests.support.built_views import as_an_older_release_left_it, record_as_built
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


def test_comments_survive_a_swap_and_a_rebuild(built_shop: str) -> None:
    status = get_view("metabase_inventory_status")  # refreshed by a swap
    expected = {c.name: c.description for c in status.columns}
    with psycopg.connect(built_shop) as conn:
        conn.execute(
            "update inventory.stock set color = coalesce(color, '') || '.' where ctid = "
            "(select ctid from inventory.stock limit 1)"
        )
        conn.commit()
        assert materialize_view(conn, status).mode is RefreshMode.SWAP
        assert live_column_comments(conn, "analytics", status.name) == expected
        assert live_relation_comment(conn, "analytics", status.name) == status.description

        record_as_built(conn, status.name, "0000000000000000")  # an older registry entry
        conn.commit()
        assert materialize_view(conn, status).mode is RefreshMode.REBUILD
        assert live_column_comments(conn, "analytics", status.name) == expected
        assert live_relation_comment(conn, "analytics", status.name) == status.description


def _oid(conn: psycopg.Connection, name: str) -> int:
    return conn.execute("select %s::regclass::oid", (f"analytics.{name}",)).fetchone()[0]


def test_a_comment_changed_by_hand_is_set_back_in_place(built_shop: str) -> None:
    product = get_view("metabase_product_performance")
    with psycopg.connect(built_shop) as conn:
        refresh_order_facts(conn)  # what the other tests changed, taken in
        materialize_view(conn, product)
        oid = _oid(conn, product.name)
        conn.execute("comment on column analytics.metabase_product_performance.avg_roi is null")
        conn.execute("comment on materialized view analytics.metabase_product_performance is 'x'")
        conn.commit()
        assert drift(conn, product) == []
        assert description_drift(conn, product) == ["the view", "avg_roi"]
        assert nothing_to_refresh(conn, [product]) is None  # a refresh has work: comments

        result = materialize_view(conn, product)

        assert result.mode is RefreshMode.SKIPPED  # nothing it reads changed: no rebuild
        assert result.described == ("the view", "avg_roi")
        assert _oid(conn, product.name) == oid
        assert live_column_comments(conn, "analytics", product.name)["avg_roi"] == next(
            c.description for c in product.columns if c.name == "avg_roi"
        )
        assert live_relation_comment(conn, "analytics", product.name) == product.description
        [current] = nothing_to_refresh(conn, [product]) or [None]  # now nothing to do
        assert current is not None and current.view == product.name


def test_a_description_edited_in_its_file_rebuilds_nothing(built_shop: str, monkeypatch) -> None:
    """The typo fixed in a ``.columns.toml``: same definition hash, same cleaned-layer hash,
    the comment set in place by the next refresh, the view and the facts not rebuilt."""
    brand = get_view("metabase_brand_analytics")
    hashes = (brand.definition_hash, cleaned_layer_hash())
    original = columns.columns_text

    def edited(package: str, stem: str) -> str:
        text = original(package, stem)
        if stem.endswith(("metabase_brand_analytics", "order_facts")):
            text = text.replace('description = "', 'description = "Corrected: ', 1)
        return text

    with psycopg.connect(built_shop) as conn:
        refresh_order_facts(conn)  # what the other tests changed, taken in
        materialize_view(conn, brand)
        oid = _oid(conn, brand.name)
        monkeypatch.setattr(columns, "columns_text", edited)
        first = brand.columns[0]
        assert first.description.startswith("Corrected: ")
        assert (brand.definition_hash, cleaned_layer_hash()) == hashes

        assert ensure_cleaned_layer(conn) is None  # not applied again
        assert refresh_order_facts(conn).mode is FactsMode.SKIPPED
        facts_first = documented_columns("order_facts")[0]
        assert facts_first.description.startswith("Corrected: ")
        assert (
            live_column_comments(conn, "analytics", "order_facts")[facts_first.name]
            == facts_first.description
        )
        result = materialize_view(conn, brand)

        assert result.mode is RefreshMode.SKIPPED
        assert result.described == (first.name,)
        assert _oid(conn, brand.name) == oid
        assert live_column_comments(conn, "analytics", brand.name)[first.name] == (
            first.description
        )

        monkeypatch.undo()  # the descriptions as the files have them, for the other tests
        ensure_cleaned_layer(conn)
        assert materialize_view(conn, brand).described == (first.name,)


def test_no_view_carries_a_definition_marker_and_an_older_releases_is_taken_over(
    built_shop: str,
) -> None:
    """Each view's comment is its description; the definition it was built from is in the
    project's record. A view an older release marked in its comment is recorded by its next
    refresh, without a rebuild, and gets its description."""
    with psycopg.connect(built_shop) as conn:
        comments = dict(
            conn.execute(
                "select c.relname, d.description from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'analytics' "
                "left join pg_description d on d.objoid = c.oid and d.objsubid = 0 "
                "where c.relkind = 'm'"
            ).fetchall()
        )
        assert {name: comments.get(name) for name in VIEWS_BY_NAME} == {
            spec.name: spec.description for spec in VIEWS
        }
        assert not any(LEGACY_PREFIX in (text or "") for text in comments.values())

        sales = get_view("sales_summary_daily")
        materialize_view(conn, sales)
        oid = _oid(conn, sales.name)
        as_an_older_release_left_it(conn, sales.name, sales.definition_hash)
        conn.commit()
        assert drift(conn, sales) == []
        result = materialize_view(conn, sales)
        assert result.mode is RefreshMode.SKIPPED
        assert result.described == ("the view",)
        assert _oid(conn, sales.name) == oid
        assert live_relation_comment(conn, "analytics", sales.name) == sales.description
        assert built_from(conn, sales.name) == BuiltFrom(sales.definition_hash, True)


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
