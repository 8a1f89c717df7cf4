"""Materializing the views through Dagster against the embedded PostgreSQL and demo data."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import dagster as dg
import psycopg
import pytest

from soleflip_bi.cleaned.assets import cleaned_layer
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.views.assets import VIEW_ASSETS, refresh_selection, view_asset_key
from soleflip_bi.views.checks import run_checks
from soleflip_bi.views.materialize import view_columns
from soleflip_bi.views.registry import VIEWS
from soleflip_bi_tests.support.orders import add_sale_orders

# Every column SPEC §3 names, per view (a view may have more).
REQUIRED_COLUMNS: dict[str, set[str]] = {
    "metabase_executive_metrics": {
        "sale_date",
        "sale_week",
        "sale_month",
        "sale_quarter",
        "sale_year",
        "platform_id",
        "platform_name",
        "platform_slug",
        "total_orders",
        "total_revenue",
        "total_net_proceeds",
        "total_profit",
        "avg_roi",
        "avg_order_value",
        "total_fees",
        "total_shipping_costs",
    },
    "metabase_product_performance": {
        "product_id",
        "product_name",
        "sku",
        "category_name",
        "brand_id",
        "brand_name",
        "brand_segment",
        "brand_price_tier",
        "is_collaboration",
        "units_sold",
        "total_revenue",
        "avg_sale_price",
        "min_sale_price",
        "max_sale_price",
        "price_volatility",
        "total_profit",
        "avg_roi",
        "total_fees",
        "avg_purchase_price",
        "supplier_count",
        "first_sale_date",
        "last_sale_date",
        "sales_duration_days",
    },
    "metabase_brand_analytics": {
        "brand_id",
        "brand_name",
        "brand_segment",
        "brand_price_tier",
        "target_demographic",
        "parent_brand_name",
        "units_sold",
        "total_revenue",
        "avg_sale_price",
        "price_variance",
        "total_profit",
        "avg_roi",
        "product_variety",
        "active_months",
        "market_share_pct",
        "sales_share_pct",
        "price_positioning",
        "volume_tier",
    },
    "metabase_platform_performance": {
        "platform_id",
        "platform_name",
        "platform_slug",
        "total_orders",
        "active_months",
        "total_revenue",
        "avg_order_value",
        "min_order_value",
        "max_order_value",
        "total_fees",
        "avg_fee",
        "fee_pct",
        "total_shipping_costs",
        "total_net_proceeds",
        "total_profit",
        "avg_roi",
        "profit_margin_pct",
        "payouts_received",
        "avg_payout_days",
        "countries_served",
        "cities_served",
    },
    "metabase_inventory_status": {
        "inventory_id",
        "product_id",
        "product_name",
        "brand_name",
        "category_name",
        "us_size",
        "condition",
        "color",
        "status",
        "supplier_name",
        "purchase_price",
        "gross_purchase_price",
        "vat_amount",
        "purchase_date",
        "times_sold",
        "last_sold_date",
        "total_revenue",
        "total_profit",
        "days_in_stock",
        "stock_category",
        "current_inventory_value",
    },
    "metabase_inventory_overview": {
        "brand_id",
        "category_id",
        "supplier_id",
        "supplier_name",
        "stock_category",
        "in_stock",
        "items",
        "sold_items",
        "stock_value",
        "days_in_stock_sum",
        "min_days_in_stock",
    },
    "metabase_customer_geography": {
        "country",
        "city",
        "total_orders",
        "active_months",
        "total_revenue",
        "avg_order_value",
        "total_profit",
        "avg_roi",
        "avg_shipping_cost",
        "platform_count",
        "platform_names",
        "unique_products",
        "unique_brands",
    },
    "metabase_supplier_performance": {
        "supplier_id",
        "supplier_name",
        "supplier_email",
        "supplier_phone",
        "supplier_country",
        "supplier_rating",
        "total_purchases",
        "total_spent",
        "avg_purchase_price",
        "unique_products",
        "unique_brands",
        "units_sold",
        "sell_through_rate",
        "total_revenue_generated",
        "total_profit",
        "avg_roi",
        "avg_days_to_sell",
        "unsold_units",
        "unsold_value",
    },
    "inventory_status_summary": {
        "product_id",
        "items_in_stock",
        "stock_value",
        "avg_days_in_stock",
        "max_days_in_stock",
    },
    "sales_summary_daily": {
        "sale_date",
        "total_orders",
        "units_sold",
        "total_revenue",
        "total_profit",
        "avg_order_value",
    },
    "supplier_performance_summary": {
        "supplier_id",
        "items_purchased",
        "items_sold",
        "sell_through_rate",
        "total_revenue",
        "total_profit",
    },
}


@dataclass(frozen=True)
class MeasuredRun:
    """The first refresh of every view, with what the test measured around it."""

    result: dg.ExecuteInProcessResult
    wall_seconds: float  # around dg.materialize, measured by the test
    step_seconds: dict[str, float]  # step start to step end, from the instance's event log
    row_counts: dict[str, int]  # count(*) of each view right after the run
    sizes: dict[str, int]  # pg_total_relation_size of each view right after the run
    indexes: dict[str, set[str]]  # the indexes PostgreSQL has on each view
    source_orders: int  # rows of sales."order" right after the run (later tests add some)


@pytest.fixture(scope="module")
def measured(module_demo_database_url: str) -> MeasuredRun:
    instance = dg.DagsterInstance.ephemeral()
    started = time.perf_counter()
    result = dg.materialize(
        [cleaned_layer, *VIEW_ASSETS],
        resources={"postgres": PostgresResource(database_url=module_demo_database_url)},
        instance=instance,
    )
    wall = time.perf_counter() - started
    assert result.success
    starts, ends = {}, {}
    for entry in instance.all_logs(result.run_id):
        event = entry.dagster_event
        if event is None or entry.step_key is None:
            continue
        if event.event_type is dg.DagsterEventType.STEP_START:
            starts[entry.step_key] = entry.timestamp
        elif event.event_type is dg.DagsterEventType.STEP_SUCCESS:
            ends[entry.step_key] = entry.timestamp
    with psycopg.connect(module_demo_database_url) as conn:
        source_orders = conn.execute('select count(*) from sales."order"').fetchone()[0]
        counts, sizes, indexes = {}, {}, {}
        for spec in VIEWS:
            counts[spec.name] = conn.execute(
                f"select count(*) from analytics.{spec.name}"
            ).fetchone()[0]
            sizes[spec.name] = conn.execute(
                "select pg_total_relation_size(%s::regclass)", (f"analytics.{spec.name}",)
            ).fetchone()[0]
            indexes[spec.name] = {
                row[0]
                for row in conn.execute(
                    "select indexname from pg_indexes "
                    "where schemaname = 'analytics' and tablename = %s",
                    (spec.name,),
                )
            }
    return MeasuredRun(
        result=result,
        wall_seconds=wall,
        step_seconds={key: ends[key] - starts[key] for key in ends},
        row_counts=counts,
        sizes=sizes,
        indexes=indexes,
        source_orders=source_orders,
    )


@pytest.fixture(scope="module")
def materialized(measured: MeasuredRun) -> dg.ExecuteInProcessResult:
    return measured.result


def test_every_view_has_rows_and_every_specified_column(
    materialized: dg.ExecuteInProcessResult, module_demo_database_url: str
) -> None:
    assert set(REQUIRED_COLUMNS) == {spec.name for spec in VIEWS}
    with psycopg.connect(module_demo_database_url) as conn:
        for spec in VIEWS:
            columns = {
                row[0]
                for row in conn.execute(
                    "select attname from pg_attribute where attrelid = %s::regclass "
                    "and attnum > 0 and not attisdropped",
                    (f"analytics.{spec.name}",),
                )
            }
            missing = REQUIRED_COLUMNS[spec.name] - columns
            assert not missing, f"{spec.name} lacks {missing}"
            rows = conn.execute(f"select count(*) from analytics.{spec.name}").fetchone()[0]
            assert rows > 0, spec.name


def test_named_indexes_exist(materialized, module_demo_database_url: str) -> None:
    with psycopg.connect(module_demo_database_url) as conn:
        present = {
            row[0]
            for row in conn.execute(
                "select indexname from pg_indexes where schemaname = 'analytics'"
            )
        }
    for spec in VIEWS:
        assert {index.name for index in spec.indexes} <= present, spec.name
    assert {"idx_exec_metrics_date", "idx_prod_perf_units", "idx_inv_status_aging"} <= present


# RelationAddBlocks extends a bulk insert by at most 64 pages (src/backend/access/heap/hio.c).
BULK_EXTENSION_BYTES = 64 * 8192


def test_materialization_metadata(measured: MeasuredRun) -> None:
    """What the asset page shows for each view is what the database holds and what the run
    took: the count and size PostgreSQL reports, the indexes it has, a first build, and a
    duration that fits inside the step that did the work."""
    durations = {}
    for spec in VIEWS:
        step = "refresh_" + spec.name
        [event] = measured.result.asset_materializations_for_node(step)
        meta = event.metadata
        assert meta["dagster/row_count"].value == measured.row_counts[spec.name] > 0
        assert meta["dagster/table_name"].value == f"analytics.{spec.name}"
        # Autovacuum may change a view's size after the step measured it, by whole pages:
        # truncating the empty pages a bulk load extends by (PostgreSQL 16+) or adding the
        # free-space and visibility maps.
        size, now = meta["size_bytes"].value, measured.sizes[spec.name]
        assert now > 0 and size % 8192 == 0, (spec.name, size)
        assert abs(size - now) <= BULK_EXTENSION_BYTES, (spec.name, size, now)
        assert meta["refresh_mode"].value == "create", spec.name  # never built before
        duration = meta["duration_seconds"].value
        assert isinstance(duration, float)
        # rounded to milliseconds by the asset: allow half of one over the step's own time
        assert 0 <= duration <= measured.step_seconds[step] + 0.0005, (spec.name, duration)
        durations[spec.name] = duration
        assert set(meta["indexes"].value) == measured.indexes[spec.name]
        assert {index.name for index in spec.indexes} <= measured.indexes[spec.name]
        assert meta["definition_hash"].value == spec.definition_hash
        columns = {c.name for c in meta["dagster/column_schema"].value.columns}
        assert REQUIRED_COLUMNS[spec.name] <= columns
        lineage = meta["dagster/column_lineage"].value.deps_by_column
        assert set(lineage) == columns
        assert all(lineage[c] for c in columns), f"{spec.name}: a column without lineage"
    assert 0 < sum(durations.values()) < measured.wall_seconds


def test_revenue_lineage_points_at_the_order_amount(materialized) -> None:
    [event] = materialized.asset_materializations_for_node("refresh_metabase_executive_metrics")
    deps = event.metadata["dagster/column_lineage"].value.deps_by_column["total_revenue"]
    assert dg.TableColumnDep(dg.AssetKey(["sales", "order"]), "gross_sale") in deps


def test_every_check_passes_on_demo_data(measured: MeasuredRun) -> None:
    evaluations = measured.result.get_asset_check_evaluations()
    by_check = {(e.asset_key.path[-1], e.check_name): e for e in evaluations}
    failed = [
        key for key, e in by_check.items() if not e.passed and key[1] != "rejected_source_rows"
    ]
    assert not failed
    assert ("metabase_brand_analytics", "revenue_reconciles") in by_check
    accounting = by_check[("order_facts", "orders_accounted_for")]
    assert accounting.metadata["unaccounted"].value == 0
    assert accounting.metadata["source_rows"].value == measured.source_orders
    assert len([k for k in by_check if k[1] == "grain_unique"]) == len(VIEWS)
    # The demo data is dirty on purpose: the quality check warns and names the reasons.
    rejected = by_check[("source_quality_issues", "rejected_source_rows")]
    assert not rejected.passed
    assert rejected.metadata["rejected_rows"].value > 0
    assert "sales.order unknown_currency" in rejected.metadata["sample_ids"].value


def _refresh_exec(url: str) -> str:
    result = dg.materialize(
        [cleaned_layer, *VIEW_ASSETS],
        selection=refresh_selection(["metabase_executive_metrics"]),
        resources={"postgres": PostgresResource(database_url=url)},
    )
    [event] = result.asset_materializations_for_node("refresh_metabase_executive_metrics")
    return event.metadata["refresh_mode"].value


def test_unchanged_sources_mean_no_refresh_and_a_change_a_concurrent_one(
    materialized, module_demo_database_url
) -> None:
    assert _refresh_exec(module_demo_database_url) == "skipped"
    assert _refresh_exec(module_demo_database_url) == "skipped"
    with psycopg.connect(module_demo_database_url) as conn:
        conn.execute("update catalog.brand set segment = segment where name = 'Nike'")
    assert _refresh_exec(module_demo_database_url) == "concurrent"  # a dimension changed
    with psycopg.connect(module_demo_database_url) as conn:
        conn.execute("update analytics.currency_rate set rate = rate")
    assert _refresh_exec(module_demo_database_url) == "skipped"  # same reference data
    add_sale_orders(module_demo_database_url, 1, gross=10)
    assert _refresh_exec(module_demo_database_url) == "concurrent"


def test_a_skipped_refresh_still_reports_every_check(
    materialized, module_demo_database_url
) -> None:
    """Nothing changed: the view and the facts are skipped, and their checks carry the last
    evaluation forward (saying so), so none is left "not evaluated" and no step reports
    outputs it did not yield."""
    instance = dg.DagsterInstance.ephemeral()
    runs = [
        dg.materialize(
            [cleaned_layer, *VIEW_ASSETS],
            selection=refresh_selection(["sales_summary_daily"]),
            resources={"postgres": PostgresResource(database_url=module_demo_database_url)},
            instance=instance,
        )
        for _ in range(2)
    ]
    first, second = runs
    [view] = second.asset_materializations_for_node("refresh_sales_summary_daily")
    assert view.metadata["refresh_mode"].value == "skipped"
    evaluations = {e.check_name: e for e in second.get_asset_check_evaluations()}
    assert set(evaluations) == {
        "grain_unique",
        "non_empty",
        "values_sane",
        "revenue_reconciles",
        "rejected_source_rows",
        "orders_accounted_for",
        "exchange_rates_current",
        "definition_current",
    }
    for name in (
        "grain_unique",
        "revenue_reconciles",
        "rejected_source_rows",
        "exchange_rates_current",
    ):
        assert evaluations[name].metadata["carried_from_run"].value == first.run_id
    assert evaluations["revenue_reconciles"].passed
    # Whether the live view is still the registry's is looked at anew on every refresh.
    assert "carried_from_run" not in evaluations["definition_current"].metadata
    assert evaluations["definition_current"].passed
    assert [e.message for e in second.all_events if "did not yield" in (e.message or "")] == []


def test_grain_unique_trusts_the_unique_index_and_counts_without_one(
    materialized, module_demo_database_url: str
) -> None:
    spec = next(v for v in VIEWS if v.name == "metabase_executive_metrics")
    key = view_asset_key(spec.name)
    with psycopg.connect(module_demo_database_url) as conn:
        columns = [name for name, _ in view_columns(conn, spec.name)]
        by_index = {r.check_name: r for r in run_checks(conn, spec, key, columns)}
        assert by_index["grain_unique"].passed
        assert by_index["grain_unique"].metadata["enforced_by"].value == spec.unique_index.name
        # A grain the view does not have: no index on it, so the keys are counted.
        coarser = dataclasses.replace(spec, grain=("platform_id",))
        counted = {r.check_name: r for r in run_checks(conn, coarser, key, columns)}
        platforms = conn.execute(
            "select count(distinct platform_id) from analytics.metabase_executive_metrics"
        ).fetchone()[0]
    assert not counted["grain_unique"].passed
    assert counted["grain_unique"].metadata["enforced_by"].value == "counted"
    assert counted["grain_unique"].metadata["duplicate_keys"].value == platforms
