"""Column lineage read from the SQL (views/sql_lineage.py), and the one hand-written map
left, of the stored facts' columns (views/lineage.FACT_SOURCES): a test fails when the SQL
and the map disagree."""

from __future__ import annotations

import json
import os
from pathlib import Path

import soleflip_bi.views.lineage as lineage_module
from soleflip_bi.shared.columns import load_columns
from soleflip_bi.views.lineage import FACT_RELATIONS, FACT_SOURCES, source_columns
from soleflip_bi.views.registry import VIEWS, get_view
from soleflip_bi.views.sql_lineage import FACT_TABLES, derived_lineage, query_inputs, view_inputs

STORED = Path(lineage_module.__file__).with_name("lineage.json")


def _fact_columns() -> set[str]:
    return {c.name for t in FACT_TABLES for c in load_columns("soleflip_bi.cleaned", f"sql/{t}")}


def test_every_fact_column_a_view_reads_is_mapped_to_its_sources() -> None:
    read = {
        (view.name, column, name)
        for view in VIEWS
        for column, inputs in view_inputs(view).items()
        for schema, table, name in inputs
        if (schema, table) in FACT_RELATIONS
    }
    unmapped = sorted(r for r in read if r[2] not in FACT_SOURCES)
    assert unmapped == [], f"fact columns the views read with no FACT_SOURCES entry: {unmapped}"


def test_every_entry_of_the_map_is_a_column_of_the_facts() -> None:
    assert sorted(set(FACT_SOURCES) - _fact_columns()) == []


def test_every_view_column_has_inputs_and_the_registry_names_them_all() -> None:
    for view in VIEWS:
        inputs = view_inputs(view)
        assert list(inputs) == [c.name for c in view.columns], view.name
        assert [c for c, found in inputs.items() if not found] == [], view.name


def test_lineage_follows_rollups_ctes_and_stars_down_to_the_sources() -> None:
    brand = get_view("metabase_brand_analytics")
    assert source_columns(brand, "total_revenue") == [
        ("sales", "order", "currency_code"),
        ("sales", "order", "gross_sale"),
    ]
    assert source_columns(brand, "brand_name") == [("catalog", "brand", "name")]
    assert source_columns(brand, "total_orders") == [("sales", "order", "id")]
    # a rollup read through a CTE's star, a FILTER and count(*)
    assert query_inputs(
        "with c as (select * from analytics.sales_by_product_supplier) "
        "select sum(revenue) filter (where orders > 1) as r, count(*) as cells from c"
    ) == {
        "r": {("analytics", "order_facts", "revenue"), ("analytics", "order_facts", "order_id")},
        "cells": {
            ("analytics", "order_facts", "product_id"),
            ("analytics", "order_facts", "brand_id"),
            ("analytics", "order_facts", "supplier_id"),
        },
    }


def test_a_view_column_the_map_cannot_explain_is_found() -> None:
    """What the first test catches: SQL reading a fact column the map does not know."""
    inputs = query_inputs("select max(stockx_order_number) as n from analytics.order_facts")
    assert inputs == {"n": {("analytics", "order_facts", "stockx_order_number")}}
    assert "stockx_order_number" not in FACT_SOURCES


def test_the_stored_lineage_is_what_the_sql_says() -> None:
    """views/lineage.json (read by every run, which parses no SQL) against the SQL now.
    Regenerate after a change to a view, a rollup or a cleaned view:
    ``UPDATE_LINEAGE=1 .venv/bin/pytest soleflip_bi_tests/unit/test_lineage.py``."""
    derived = derived_lineage(VIEWS)
    if os.environ.get("UPDATE_LINEAGE") == "1":
        STORED.write_text(json.dumps(derived, indent=1, sort_keys=True) + "\n")
    assert json.loads(STORED.read_text()) == derived, (
        "views/lineage.json differs from the SQL: regenerate it with UPDATE_LINEAGE=1"
    )
