"""Turn benchmark figures into tables, a chart and docs/BENCHMARKS.md."""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from pathlib import Path

from soleflip_bi.database.tuning import REFRESH_SETTINGS
from soleflip_bi.views.registry import VIEWS, VIEWS_BY_NAME
from soleflip_bi_tests.benchmarks.end_to_end import LATENCY_PARTS, p50, percentile
from soleflip_bi_tests.benchmarks.measure import SizeFigures

# Order committed -> visible, p50 and p95 s, by size (the largest measured size is judged
# by the 1M row when no row names it).
LATENCY_TARGETS = {1_106: (4.0, 6.0), 1_000_000: (6.0, 10.0)}
OVERHEAD_TARGET = 1.3  # `views refresh --all` after +1,000 orders: wall / PostgreSQL

TUNING_NOTES = """## How the refresh cost follows the change

The **reference** is the same eleven views written the straightforward way
(`soleflip_bi_tests/benchmarks/reference/`): one materialized view each over the plain
views of the facts, nothing stored in between, a unique index on the grain, refreshed
plainly (readers blocked) or concurrently. It is built in the same database in the same
run, and every project view is compared with it row for row (last column of each size's
table: 0 means identical).

* **Stored facts** (`analytics.order_facts`, `analytics.stock_facts`): one row per sale and
  per sound stock item, maintained from the row change log: only the orders touched
  (directly or through their stock item) are deleted and computed again; dimension changes
  and bulk loads rebuild them. Tested equal to a rebuild (`test_incremental_facts.py`).
* **Rollups** (`soleflip_bi/cleaned/rollups/`): small stored cells of the facts, one table
  per grain the views need: per sale date and platform (6,500 cells at 1M orders), per
  platform x month x buyer city (9,900), per product x supplier (15,000), per brand x month,
  per city x product, per spelling of a place name, per stock item, and per supplier x
  product for the stock. They are maintained in the facts' transaction: a cell that only
  gained orders takes their aggregate merged in (sums added, minimums and maximums
  compared), a cell that lost or changed an order is aggregated again from the facts of its
  key through an index. The views aggregate cells instead of a million orders, which is the
  difference between the EXPLAIN columns: milliseconds and a few hundred buffers against
  seconds and tens of thousands of buffers.
* **Each stock item with its sales, stored** (`analytics.stock_with_sales`): the
  one-row-per-stock-item view and the inventory overview copy it instead of joining 1.36M
  stock items to an aggregate of a million orders on every refresh. It is maintained for
  the stock items whose row or whose sales changed.
* **Ages computed cheaply.** Days in stock are whole numbers, so the aging thresholds are
  read once and compared as integers (a numeric comparison per item and threshold cost
  about a second at 1.36M items).
* **The seed's indexes, built before the swap.** `metabase_inventory_status` has every
  index seed 001 names, on the seed's columns and over every item (the shop's own Metabase
  questions filter stock by product, brand and stock category, and ask about sold items'
  age), plus two partial ones over the stock on hand for the inventory card. They are built
  on the new copy while readers still read the old one, and with the refresh's parallel
  maintenance workers; each size's section below lists what each index costs alone.
* **Nothing to do, nothing started.** `soleflip-bi views refresh` asks PostgreSQL whether
  any view would do work (definitions, change log, day) and, if none would, prints that and
  starts no Dagster run; the command line loads without importing Dagster.
* **The sensor jobs run in one process** (`in_process_executor`): a run of the orders
  sensor is the facts step and four small views, a second of PostgreSQL work, and starting
  a process per step cost several seconds each. Pool limits still apply to each step.
* **What is left** is the one-row-per-stock-item view: 1.36M rows of 28 columns, about
  460 MB. PostgreSQL cannot refresh part of a materialized view, and `REFRESH
  CONCURRENTLY` costs more than a build (its diff compares every row), so it is built
  whole beside the old copy and swapped: after any stock or sales change, and once a day,
  when every unsold item ages. The build is a copy of the stored table with each item's
  age computed (the per-row projection of 28 columns is most of it) plus its indexes.
  What would remove it: a table maintained row by row in place of a materialized view
  (the views would no longer all be materialized views), or the `pg_ivm` extension (not
  available on managed PostgreSQL everywhere). The inventory overview aggregates the same
  1.36M items for the same reason: its stock categories move with the day.
* **Session settings** (`database/tuning.py`): `work_mem=256MB`, parallel workers on both
  cores, `jit=off`. **Server settings** (`database/embedded.py`): 1 GB shared buffers,
  `random_page_cost=1.1`, `jit=off`, `wal_level=minimal` and `synchronous_commit=off` for a
  development server whose data can be regenerated.
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


def index_table(fig: SizeFigures) -> str:
    workers = REFRESH_SETTINGS["max_parallel_maintenance_workers"]
    lines = [
        f"| view | index | columns | s, {workers} parallel workers | s, no parallel worker |",
        "|---|---|---|---:|---:|",
    ]
    for (view, name), (parallel, serial) in fig.index_builds.items():
        index = next(i for i in VIEWS_BY_NAME[view].indexes if i.name == name)
        order = " desc" if index.descending else ""
        columns = ", ".join(column + order for column in index.columns)
        where = f" where {index.where}" if index.where else ""
        lines.append(f"| {view} | {name} | {columns}{where} | {_s(parallel)} | {_s(serial)} |")
    total = [sum(pair[i] for pair in fig.index_builds.values()) for i in (0, 1)]
    lines.append(f"| **total** | | | **{_s(total[0])}** | **{_s(total[1])}** |")
    return "\n".join(lines)


def rates_table(fig: SizeFigures) -> str:
    """A corrected rate against a rebuild, and the by-day lookup against the newest rate."""
    r = fig.rates
    if r is None:
        return ""
    return "\n".join(
        [
            "| | seconds | |",
            "|---|---:|---|",
            f"| `rates load` of USD on {r.day} (corrected) | {_s(r.load)} | |",
            f"| stored facts after it | {_s(r.facts)} | {r.facts_mode}: {r.reconverted} sales "
            f"re-converted, {r.sales_that_day} USD sales that day |",
            f"| stored facts rebuilt (same run) | {_s(fig.facts_rebuild)} | |",
            f"| every order converted at its day's rate | {_s(r.by_day)} | |",
            f"| every order converted at one fixed rate per currency | {_s(r.newest_only)} "
            f"| the by-day lookup costs {_s(r.by_day - r.newest_only)} s of a rebuild |",
        ]
    )


def latency_table(fig: SizeFigures) -> str:
    """Where the time from commit to dashboard goes, part by part (p50 and p95 over the
    samples; the parts' p50s need not add up to the total's)."""
    lines = ["| part | p50 s | p95 s |", "|---|---:|---:|"]
    for part in LATENCY_PARTS:
        values = [sample.parts[part] for sample in fig.latency if part in sample.parts]
        if values:
            lines.append(f"| {part} | {p50(values):.2f} | {percentile(values, 95):.2f} |")
    totals = fig.end_to_end
    lines.append(
        f"| **commit -> visible** ({len(totals)} samples) | **{p50(totals):.2f}** "
        f"| **{percentile(totals, 95):.2f}** |"
    )
    return "\n".join(lines)


def overhead_ratio(fig: SizeFigures) -> float | None:
    """Median wall time of `views refresh --all` after +1,000 orders over the SQL it ran."""
    ratios = [r.wall / (r.postgres + r.checks) for r in fig.cli_after_orders if r.postgres]
    return statistics.median(ratios) if ratios else None


def cli_table(fig: SizeFigures) -> str:
    lines = [
        "| wall s | process start and exit s | run s | refresh SQL s | checks SQL s "
        "| rest of the run s (catalog reads, Python, events) | events | wall / SQL |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in fig.cli_after_orders:
        rest = r.run - r.postgres - r.checks
        lines.append(
            f"| {r.wall:.2f} | {r.wall - r.run:.2f} | {r.run:.2f} | {r.postgres:.2f} "
            f"| {r.checks:.2f} | {rest:.2f} | {r.events} "
            f"| {r.wall / (r.postgres + r.checks):.2f}x |"
        )
    return "\n".join(lines)


def latency_targets_table(results: list[SizeFigures]) -> str:
    lines = [
        "| orders | p50 s at most | p50 s measured | p95 s at most | p95 s measured | met |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for fig in results:
        if fig.orders not in LATENCY_TARGETS or not fig.end_to_end:
            continue
        p50_limit, p95_limit = LATENCY_TARGETS[fig.orders]
        median, p95 = p50(fig.end_to_end), percentile(fig.end_to_end, 95)
        met = median <= p50_limit and p95 <= p95_limit
        lines.append(
            f"| {fig.orders:,} | {p50_limit:g} | {median:.2f} | {p95_limit:g} | {p95:.2f} "
            f"| {'yes' if met else '**no**'} |"
        )
    return "\n".join(lines)


def _ratio(reference: float, project: float) -> str:
    return f"{reference / project:.1f}x" if project > 0 else "n/a"


# Why a target is missed, and what would meet it (shown next to a missed target).
REMAINING = {
    "all_views": "Most of it is metabase_inventory_status (see its row): a materialized view "
    "of 1.36M rows is built whole, because PostgreSQL cannot refresh part of one; then the "
    "inventory overview, which aggregates the same items because their stock categories "
    "move with the day. A table maintained row by row in place of that view, or the pg_ivm "
    "extension, would make both cost what changed.",
    "orders_sensor": "The facts step: storing the new orders' facts from the live view "
    "(about a tenth of a second per 1,000 orders) and some forty small statements keeping "
    "the rollups and the recount in step.",
    "rollover": "Building 1.36M rows of 28 columns (the per-row projection is most of it) "
    "and its seven indexes; every unsold item's age changes at midnight, so the view cannot be "
    "kept, only rebuilt, while it is a materialized view (see above).",
    "cli": "Starting Python and connecting; no Dagster is imported on this path.",
    "latency": "See the size's latency table: what is left is mostly the run's own process "
    "(the daemon dequeues every second, then a new Python process imports Dagster and the "
    "code location before the first step) and Dagster's records of each step.",
    "overhead": "See the size's command-line table: starting Python, importing Dagster and "
    "the definitions, and the run's records (events, check results) around the SQL.",
    "cards": "The inventory cards group the overview's 55,000 cells on every query "
    "(17-24 ms median at 1M here). An overview without the brand in its grain, or a rollup "
    "per card, would make them read hundreds of rows.",
}


def targets_table(fig: SizeFigures) -> str:
    """The targets at 1M orders against what this run measured."""
    cli = statistics.median(fig.cli_no_change_wall) if fig.cli_no_change_wall else None
    latency = p50(fig.end_to_end)
    p95 = percentile(fig.end_to_end, 95) if fig.end_to_end else None
    worst = max(p95_ for _, p95_ in fig.cards.values())
    rows = [
        ("all_views", "all 11 views after +1,000 orders, PostgreSQL s", 8.0, project_total(fig)),
        ("orders_sensor", "the orders sensor's views after +1,000 orders, s", 1.0,
         fig.orders_sensor_pg_seconds),
        ("rollover", "day rollover of metabase_inventory_status, s", 4.0,
         fig.views["metabase_inventory_status"].rollover),
        ("cli", "`views refresh --all` with nothing changed, wall s", 1.5, cli),
        ("latency", "order committed -> visible, p50 s", 6.0, latency),
        ("latency", "order committed -> visible, p95 s", 10.0, p95),
        ("overhead", "`views refresh --all` after +1,000 orders, wall / SQL", OVERHEAD_TARGET,
         overhead_ratio(fig)),
        ("cards", "worst dashboard card p95, ms", 20.0, worst),
    ]  # fmt: skip
    lines = ["| target | at most | measured | met | what the rest is |", "|---|---:|---:|---|---|"]
    for key, label, limit, value in rows:
        met = value is not None and value <= limit
        shown = "n/a" if value is None else f"{value:.2f}"
        lines.append(
            f"| {label} | {limit:g} | {shown} | {'yes' if met else '**no**'} "
            f"| {'' if met else REMAINING[key]} |"
        )
    return "\n".join(lines)


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
        "| temp files MB | peak backend RSS MB (shared buffers it touched included) |",
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
    automation_choice: str = "",
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
        *_targets_section(results),
        "",
        f"![refresh time against orders]({chart_path.name})",
        "",
        TUNING_NOTES,
        "",
        "## Declarative automation or the source-changes sensor",
        "",
        "The same graph with `AutomationCondition.eager()` on the cleaned layer and every view "
        "(`soleflip_bi_tests/benchmarks/automation_choice.py`), against the sensor, after one "
        'order (README, "How changes become runs"):',
        "",
        automation_choice,
        "",
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
            "Index builds of the views built whole on every change (each index alone on the "
            "live view, rolled back):",
            "",
            index_table(fig),
            "",
            *(
                [
                    "A corrected exchange rate, and converting by the day "
                    '(README, "Each sale at its day\'s rate"):',
                    "",
                    rates_table(fig),
                    "",
                ]
                if fig.rates
                else []
            ),
            "Order committed -> visible in metabase_executive_metrics through the running "
            f"sensor (s): {', '.join(f'{x:.1f}' for x in fig.end_to_end) or 'not measured'}.",
            "",
            *(["Where that time goes:", "", latency_table(fig), ""] if fig.latency else []),
            *(
                [
                    "`views refresh --all` as typed, after +1,000 orders:",
                    "",
                    cli_table(fig),
                    "",
                ]
                if fig.cli_after_orders
                else []
            ),
        ]
    text = "\n".join(sections)
    output.write_text(text)
    return text


def _targets_section(results: list[SizeFigures]) -> list[str]:
    largest = max(results, key=lambda fig: fig.orders)
    return [
        f"### Targets, at {largest.orders:,} orders",
        "",
        targets_table(largest),
        "",
        "### Order committed -> visible, by size",
        "",
        latency_targets_table(results),
        "",
    ]
