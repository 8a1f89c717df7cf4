"""Turn benchmark figures into tables, a chart and docs/BENCHMARKS.md."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from pathlib import Path

from soleflip_bi.views.registry import VIEWS
from soleflip_bi_tests.benchmarks.end_to_end import p50, percentile
from soleflip_bi_tests.benchmarks.measure import SizeFigures

TUNING_NOTES = """## What was tuned, and why (EXPLAIN ANALYZE at 1M orders)

* **Order facts stored once, maintained incrementally.** Every view used to compute the
  order facts (1M orders joined to 1.36M stock items, products, brands, platforms, rates):
  1.6-2 s each, ten times per cycle. `analytics.order_facts` is now a table maintained by
  `cleaned/facts.py`: skipped when nothing changed, rebuilt after dimension or bulk changes,
  and otherwise only the orders touched (directly or through their stock item, from the
  row-id change log) are deleted and recomputed: 51 ms for 1,000 new orders plus 50 stock
  price changes at 1M orders, against about 8 s for a rebuild. Tested equal to a rebuild
  (`soleflip_bi_tests/test_incremental_facts.py`).
* **Stock facts stored too.** `analytics.stock_facts` (one row per sound stock item, every
  dimension resolved) is a table maintained with the order facts, in the same transaction:
  the per-stock-item views (`metabase_inventory_status`, `metabase_inventory_overview`,
  `inventory_status_summary`, the supplier views) read it instead of joining the stock to
  products, brands, categories, sizes and suppliers again, each of them, on every refresh.
* **Reconciliation kept in step with the facts.** The check `revenue_reconciles` compares
  every revenue view with a recount of the sales straight from `sales."order"`
  (`cleaned/recount.py`). Recounting a million orders on every maintenance would cost more
  than the maintenance itself, so the recount keeps one verdict per order and moves its
  totals by the difference for the orders a maintenance touches; it is recounted from
  scratch on rebuilds and on the first maintenance of a day. Measured with a one-off script
  on seed 7 (1,001,000 orders, other tests running on the machine): incremental maintenance
  of the facts after 1,000 new orders, recount included, 0.13 s (100k orders: 0.08 s, against
  0.84 s when the recount was taken in full each time); the full recount 15.2 s at 1M
  (100k: 0.87 s). Incremental and full recount give the same totals
  (`test_sale_rule.py::test_the_recount_kept_in_step_equals_one_from_scratch`).
* **Bad estimates.** The reject filters of the checked views are CASE expressions, which
  the planner estimates at 0.5 % selectivity (6,800 rows expected, 1.36M real for stock).
  Gold views now aggregate the analysed facts table with true statistics; the plans over the
  remaining `stock_facts` view were checked to stay hash joins despite the estimate.
* **Distinct counts.** `count(distinct ...)` forces a sort of every order. Platform and
  product performance aggregate per (platform, month, city) / (product, supplier) first and
  count distinct over those cells: 2.45 s -> 1.15 s and 2.45 s -> 1.28 s, same results.
* **The one-row-per-stock-item view** is rebuilt beside the old copy and swapped
  (`swap_refresh` in the registry) instead of `REFRESH CONCURRENTLY`, whose row-by-row diff
  took 28 s against a 10 s build at 1.36M rows. Readers wait only for the rename (at most
  3 s, `SWAP_LOCK_TIMEOUT`, else the refresh is retried). It is not maintained
  incrementally: `days_in_stock` and `stock_category` of every unsold item change every
  day, so at least one full build a day is needed anyway, and between days the build runs
  only when stock or orders changed (otherwise the refresh is skipped). Product performance
  (713 rows) costs a scan of the facts, not its own size, so it is not incremental either.
* **Session settings** (`database/tuning.py`): `work_mem=256MB` removed the 21-batch,
  44 MB spill of the per-item sales aggregate; parallel workers use both cores.
* **Server settings** (`database/embedded.py`): 1 GB shared buffers (the 1M data set is
  about 1 GB), `random_page_cost=1.1` (everything is cached), `jit=off` (JIT compilation
  cost more than it saved on every dashboard query), `wal_level=minimal` and
  `synchronous_commit=off` for a development server whose data can be regenerated.
* **No-change ticks** are skipped before any refresh work: the refresh compares the change
  log with the snapshot its last refresh read (a few indexed lookups, shown below as the
  project's time with no change).
"""


def _s(value: float) -> str:
    return f"{value:.2f}"


def project_total(fig: SizeFigures) -> float:
    return fig.facts_after_orders + sum(v.project_after_orders for v in fig.views.values())


def rollover_total(fig: SizeFigures) -> float:
    return fig.facts_rollover + sum(v.rollover for v in fig.views.values())


def view_table(fig: SizeFigures, new_orders: int) -> str:
    lines = [
        f"| view | create s | project s (+{new_orders:,} orders) | reference plain s "
        "| reference concurrent s | plain / project | project s (day rolled over) "
        "| EXPLAIN project ms / buffers | EXPLAIN reference ms / buffers | rows | size MB "
        "| rows differing from reference |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for spec in VIEWS:
        v = fig.views[spec.name]
        mine_ms, mine_buffers, ref_ms, ref_buffers = v.explain or (0.0, 0, 0.0, 0)
        lines.append(
            f"| {spec.name} | {_s(v.create)} "
            f"| {_s(v.project_after_orders)} ({v.project_after_orders_mode}) "
            f"| {_s(v.reference_plain)} | {_s(v.reference_concurrent)} "
            f"| {_ratio(v.reference_plain, v.project_after_orders)} "
            f"| {_s(v.rollover)} ({v.rollover_mode}) "
            f"| {mine_ms:,.0f} / {mine_buffers:,} | {ref_ms:,.0f} / {ref_buffers:,} "
            f"| {v.rows:,} | {v.size_bytes / 1e6:.1f} | {v.differences} |"
        )
    lines.append(
        f"| stored facts and rollups | {_s(fig.facts_rebuild)} | {_s(fig.facts_after_orders)} "
        f"| | | | {_s(fig.facts_rollover)} | | | | | |"
    )
    plain = sum(v.reference_plain for v in fig.views.values())
    concurrent = sum(v.reference_concurrent for v in fig.views.values())
    lines.append(
        f"| **total** | **{_s(fig.facts_rebuild + sum(v.create for v in fig.views.values()))}** "
        f"| **{_s(project_total(fig))}** | **{_s(plain)}** | **{_s(concurrent)}** "
        f"| **{_ratio(plain, project_total(fig))}** | **{_s(rollover_total(fig))}** "
        "| | | | | |"
    )
    return "\n".join(lines)


def _ratio(reference: float, project: float) -> str:
    return f"{reference / project:.1f}x" if project > 0 else "n/a"


def card_table(fig: SizeFigures) -> str:
    lines = ["| card | p50 ms | p95 ms |", "|---|---:|---:|"]
    for key, (median, p95) in fig.cards.items():
        lines.append(f"| {key} | {median:.1f} | {p95:.1f} |")
    worst = max(p95 for _, p95 in fig.cards.values())
    lines.append(f"| **worst p95** | | **{worst:.1f}** |")
    return "\n".join(lines)


def summary_table(results: list[SizeFigures]) -> str:
    lines = [
        "| orders | load s | all views after +1,000 orders, project PG s "
        "| same, reference plain s | same, reference concurrent s "
        "| orders-sensor views, project PG s | day rollover of metabase_inventory_status s "
        "| no-change refresh, PG s | `views refresh --all` with no change, wall s "
        "| worst card p95 ms | order -> view p50 / p95 s | change capture per write µs "
        "| temp files MB | peak backend MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for fig in results:
        plain = sum(v.reference_plain for v in fig.views.values())
        concurrent = sum(v.reference_concurrent for v in fig.views.values())
        idle = sum(v.project_unchanged for v in fig.views.values())
        worst = max(p95 for _, p95 in fig.cards.values())
        latency = p50(fig.end_to_end)
        latency_text = (
            "n/a" if latency is None else f"{latency:.1f} / {percentile(fig.end_to_end, 95):.1f}"
        )
        cli = statistics.median(fig.cli_no_change_wall) if fig.cli_no_change_wall else None
        rollover = fig.views["metabase_inventory_status"].rollover
        lines.append(
            f"| {fig.orders:,} | {fig.load_seconds:.1f} | {project_total(fig):.2f} "
            f"| {plain:.2f} | {concurrent:.2f} | {fig.orders_sensor_pg_seconds:.2f} "
            f"| {rollover:.2f} | {idle:.3f} | {'n/a' if cli is None else f'{cli:.2f}'} "
            f"| {worst:.1f} | {latency_text} "
            f"| {'n/a' if fig.write_cost_us is None else f'{fig.write_cost_us:.0f}'} "
            f"| {fig.temp_bytes / 1e6:.0f} | {fig.peak_backend_kib / 1024:.0f} |"
        )
    return "\n".join(lines)


def chart(results: list[SizeFigures], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    orders = [f.orders for f in results]
    fig, ax = plt.subplots(figsize=(8, 5))
    series = {
        "all views, reference plain (+1,000 orders)": [
            sum(v.reference_plain for v in f.views.values()) for f in results
        ],
        "all views, reference concurrent (+1,000 orders)": [
            sum(v.reference_concurrent for v in f.views.values()) for f in results
        ],
        "all views, project (+1,000 orders)": [project_total(f) for f in results],
        "orders-sensor views, project (+1,000 orders)": [
            f.orders_sensor_pg_seconds for f in results
        ],
    }
    for label, values in series.items():
        ax.plot(orders, values, marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("orders")
    ax.set_ylabel("seconds of PostgreSQL time")
    ax.set_title("soleflip-bi refresh time against orders")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_report(
    results: list[SizeFigures],
    output: Path,
    *,
    command: str,
    machine: str,
    server_settings: Mapping[str, str],
    refresh_settings: Mapping[str, str],
    new_orders: int,
) -> str:
    output.parent.mkdir(parents=True, exist_ok=True)
    chart_path = output.with_name("benchmark_refresh.png")
    chart(results, chart_path)
    sections = [
        "# Benchmarks",
        "",
        f"Reproduce with `{command}` (the embedded PostgreSQL; each size in a fresh database).",
        "",
        f"Machine: {machine}.",
        "",
        "Server settings of the embedded server: "
        + ", ".join(f"`{k}={v}`" for k, v in server_settings.items())
        + ".",
        "",
        "Session settings of refresh transactions: "
        + ", ".join(f"`{k}={v}`" for k, v in refresh_settings.items())
        + ".",
        "",
        "## Summary",
        "",
        summary_table(results),
        "",
        f"![refresh time against orders]({chart_path.name})",
        "",
        TUNING_NOTES,
    ]
    for fig in results:
        sections += [
            f"## {fig.orders:,} orders",
            "",
            view_table(fig, new_orders),
            "",
            "Dashboard card queries (no filters set):",
            "",
            card_table(fig),
            "",
            "Order committed -> visible in metabase_executive_metrics through the running "
            f"sensor (s): {', '.join(f'{x:.1f}' for x in fig.end_to_end) or 'not measured'}.",
            "",
        ]
    text = "\n".join(sections)
    output.write_text(text)
    return text
