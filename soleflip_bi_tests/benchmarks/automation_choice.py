"""Declarative automation against the source-changes sensor, on the same graph and data.

    .venv/bin/python -m soleflip_bi_tests.benchmarks.automation_choice [--orders 1106]

The alternative: ``AutomationCondition.eager()`` on the cleaned layer and every view, and
one automation-condition sensor deciding what to materialize once a source observation
shows a new data version. Something must still read the change log and record those
observations (the sources are tables Dagster does not write), so its chain is the
source-changes sensor's first half plus an evaluation of the conditions, at the automation
sensor's own interval. This measures that evaluation, what it would request after an
order changes, and the source-changes sensor's decision on the same change, and prints a
Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import dagster as dg
import psycopg
import pytest

from soleflip_bi.definitions import defs
from soleflip_bi.shared.catalogue import Source
from soleflip_bi.sources.observe import observe_all
from soleflip_bi.views.registry import views_refreshed_on
from soleflip_bi_tests.support.instances import dagster_instance
from soleflip_bi_tests.support.orders import insert_sale_orders
from soleflip_bi_tests.support.shop import new_shop
from soleflip_bi_tests.support.ticker import Ticker

ROUNDS = 5


def eager_definitions() -> dg.Definitions:
    """The code location with ``eager()`` on every materializable asset but the dashboards."""
    eager = dg.AutomationCondition.eager()
    assets = []
    for assets_def in defs.assets or []:
        if isinstance(assets_def, dg.AssetsDefinition) and assets_def.is_materializable:
            keys = {k.to_user_string() for k in assets_def.keys}
            if "metabase/dashboards" not in keys:
                assets_def = assets_def.map_asset_specs(
                    lambda spec: spec.replace_attributes(automation_condition=eager)
                )
        assets.append(assets_def)
    return dg.Definitions(assets=assets, resources=defs.resources)


def _requested_keys(result: dg.EvaluateAutomationConditionsResult) -> set[dg.AssetKey]:
    """The assets an evaluation requested (unpartitioned: a requested key has ``None``)."""
    return {r.key for r in result.results if isinstance(r.key, dg.AssetKey) and r.true_subset.size}


def measure(orders: int) -> dict[str, object]:
    eager_defs = eager_definitions()
    figures: dict[str, object] = {}
    with (
        pytest.MonkeyPatch.context() as patch,
        new_shop(orders=orders, seed=42) as url,
        dagster_instance(patch) as instance,
    ):
        patch.setenv("SOLEFLIP_DATABASE_URL", url)
        with psycopg.connect(url) as conn:  # as `soleflip-bi demo` leaves the sources
            for observation in observe_all(conn):
                instance.report_runless_asset_event(observation)
        for key in defs.get_repository_def().asset_graph.materializable_asset_keys:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))  # and the build
        ticker = Ticker(url, instance)
        ticker.settle()
        result = dg.evaluate_automation_conditions(defs=eager_defs, instance=instance)
        cursor = result.cursor
        evaluations, sensor_ticks, requested, selected = [], [], set(), set()
        for _ in range(ROUNDS):
            with psycopg.connect(url) as conn:
                insert_sale_orders(conn, 1, gross=150)
            started = time.perf_counter()
            tick = ticker.settle()
            sensor_ticks.append(time.perf_counter() - started)
            for event in tick.asset_events:
                instance.report_runless_asset_event(event)
            for request in tick.run_requests:
                selected = {k.to_user_string() for k in request.asset_selection}
            started = time.perf_counter()
            result = dg.evaluate_automation_conditions(
                defs=eager_defs, instance=instance, cursor=cursor
            )
            evaluations.append(time.perf_counter() - started)
            cursor = result.cursor
            keys = _requested_keys(result)
            requested = {k.to_user_string() for k in keys} or requested
            for key in keys:  # as if the run had happened
                instance.report_runless_asset_event(dg.AssetMaterialization(key))
        figures.update(
            evaluation=statistics.median(evaluations),
            sensor_tick=statistics.median(sensor_ticks),
            eager_requested=sorted(requested),
            sensor_selected=sorted(selected),
        )
    return figures


def report(figures: dict[str, object], orders: int) -> str:
    interval = dg.AutomationConditionSensorDefinition(
        "probe", target=dg.AssetSelection.all()
    ).minimum_interval_seconds
    order_views = {f"analytics/{v.name}" for v in views_refreshed_on(Source.ORDERS)}
    cleaned = {"analytics/order_facts", "analytics/stock_facts", "analytics/source_quality_issues"}
    eager = set(figures["eager_requested"]) - cleaned  # type: ignore[arg-type]
    sensor = set(figures["sensor_selected"])  # type: ignore[arg-type]
    return "\n".join(
        [
            f"| after one order, {orders:,} orders | declarative automation (eager) "
            "| source-changes sensor |",
            "|---|---|---|",
            f"| deciding, median s | {figures['evaluation']:.2f} (evaluation of every "
            f"condition) | {figures['sensor_tick']:.2f} (one look at the change log) |",
            f"| how often it decides | every {interval or 30} s by default (its own "
            "sensor), after an observation the change sensor must still make | each "
            "tick looks for 4 of every 5 s |",
            f"| views it refreshes | {len(eager)} "
            f"({', '.join(sorted(k.split('/')[1] for k in eager - sensor)) or 'the same'} "
            "beyond the order views) "
            f"| {len(order_views & sensor)}: the views orders feed |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1106)
    args = parser.parse_args(argv)
    print(report(measure(args.orders), args.orders))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
