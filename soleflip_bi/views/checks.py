"""Asset checks of a view, evaluated right after each refresh on the same connection.

``revenue_reconciles`` is exact to the cent, per platform where the view has a
``platform_id`` (the recount: ``cleaned/recount.py``).
"""

from __future__ import annotations

import time
from decimal import Decimal

import dagster as dg
import psycopg
from psycopg import sql

from soleflip_bi.cleaned.recount import stored_recount
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA
from soleflip_bi.views.materialize import qualified
from soleflip_bi.views.registry import CleanedView, ViewSpec

CHECK_DESCRIPTIONS: dict[str, str] = {
    "grain_unique": "the grain columns are unique and never NULL (Unknown members, not NULLs)",
    "non_empty": "the view has rows whenever the cleaned layer it reads has rows",
    "values_sane": "no negative counts; shares within 0..100 and summing to 100",
    "revenue_reconciles": 'orders and revenue equal a recount straight from sales."order", '
    "per platform",
    "definition_current": "the live view is the registry's: kind, query and indexes (a "
    "hand-made change warns, and the refresh that finds it rebuilds the view), and nothing "
    "outside soleflip-bi is scheduled to refresh it (a pg_cron job warns until retired)",
}
DRIFT_CHECK = "definition_current"

# Column names that are counts wherever they appear: never negative.
COUNT_SUFFIXES = (
    "_orders",
    "_sold",
    "_months",
    "_count",
    "_purchases",
    "_purchased",
    "_served",
    "_variety",
    "_received",
    "_units",
    "_in_stock",
    "_items",
    "items",
    "times_sold",
    "unique_products",
    "unique_brands",
)


def check_specs_for(spec: ViewSpec, asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    names = ["grain_unique", "non_empty", "values_sane"]
    if spec.revenue_column:
        names.append("revenue_reconciles")
    names.append(DRIFT_CHECK)
    return [
        dg.AssetCheckSpec(name, asset=asset_key, description=CHECK_DESCRIPTIONS[name])
        for name in names
    ]


def run_checks(
    conn: psycopg.Connection, spec: ViewSpec, asset_key: dg.AssetKey, columns: list[str]
) -> list[dg.AssetCheckResult]:
    """Evaluate the view's checks; each records its own seconds (``duration_seconds``)."""
    evaluations = [
        lambda: _grain_unique(conn, spec),
        lambda: _non_empty(conn, spec),
        lambda: _values_sane(conn, spec, columns),
    ]
    if spec.revenue_column:
        evaluations.append(lambda: _revenue_reconciles(conn, spec))
    results = []
    for evaluate in evaluations:
        started = time.perf_counter()
        name, passed, meta = evaluate()
        meta = {**meta, "duration_seconds": round(time.perf_counter() - started, 4)}
        results.append(
            dg.AssetCheckResult(check_name=name, asset_key=asset_key, passed=passed, metadata=meta)
        )
    return results


def drift_check(
    asset_key: dg.AssetKey, found: tuple[str, ...], repaired: bool
) -> dg.AssetCheckResult:
    """What the refresh found different from the registry before it ran (a warning), and
    whether it rebuilt the view from the registry."""
    return dg.AssetCheckResult(
        check_name=DRIFT_CHECK,
        asset_key=asset_key,
        passed=not found,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "found": dg.MetadataValue.json(list(found)),
            "repaired_by_rebuild": repaired,
        },
    )


def _grain_unique(conn: psycopg.Connection, spec: ViewSpec) -> tuple[str, bool, dict]:
    """No key twice, no key NULL. Every view carries a unique index on its grain, so
    PostgreSQL itself refuses a duplicate while the view is built; only when that index is
    missing (dropped by hand) are the keys counted, which at a million rows costs a second."""
    grain = sql.SQL(", ").join(sql.Identifier(c) for c in spec.grain)
    any_null = sql.SQL(" or ").join(
        sql.SQL("{} is null").format(sql.Identifier(c)) for c in spec.grain
    )
    enforced_by = _unique_index_on(conn, spec)
    if enforced_by:
        duplicates = 0
    else:
        duplicates = conn.execute(
            sql.SQL(
                "select count(*) from (select 1 from {v} group by {g} having count(*) > 1) d"
            ).format(v=qualified(spec.name), g=grain)
        ).fetchone()[0]
    nulls = conn.execute(
        sql.SQL("select count(*) from {v} where {n}").format(v=qualified(spec.name), n=any_null)
    ).fetchone()[0]
    return (
        "grain_unique",
        duplicates == 0 and nulls == 0,
        {
            "grain": ", ".join(spec.grain),
            "duplicate_keys": int(duplicates),
            "null_keys": int(nulls),
            "enforced_by": enforced_by or "counted",
        },
    )


def _unique_index_on(conn: psycopg.Connection, spec: ViewSpec) -> str | None:
    """The name of a valid unique index of the view on exactly its grain, if any."""
    row = conn.execute(
        """
        select i.relname from pg_index x join pg_class i on i.oid = x.indexrelid
        where x.indrelid = to_regclass(%s) and x.indisunique and x.indisvalid
          and x.indpred is null and x.indexprs is null
          and array(select a.attname::text from unnest(x.indkey) with ordinality k(attnum, n)
                    join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum
                    order by a.attname) = %s::text[]
        limit 1
        """,
        (f"{ANALYTICS_SCHEMA}.{spec.name}", sorted(spec.grain)),
    ).fetchone()
    return row[0] if row else None


def _non_empty(conn: psycopg.Connection, spec: ViewSpec) -> tuple[str, bool, dict]:
    # The view is fed by order_facts when it reads it, else by stock_facts.
    source = (
        CleanedView.ORDER_FACTS
        if CleanedView.ORDER_FACTS in spec.reads
        else CleanedView.STOCK_FACTS
    )
    view_rows, source_rows = conn.execute(
        sql.SQL("select (select count(*) from {}), (select count(*) from {})").format(
            qualified(spec.name), qualified(source.value)
        )
    ).fetchone()
    return (
        "non_empty",
        view_rows > 0 or source_rows == 0,
        {
            "rows": int(view_rows),
            f"{source.value}_rows": int(source_rows),
        },
    )


def _values_sane(
    conn: psycopg.Connection, spec: ViewSpec, columns: list[str]
) -> tuple[str, bool, dict]:
    counts = [c for c in columns if c.endswith(COUNT_SUFFIXES) or c in COUNT_SUFFIXES]
    negatives = {}
    if counts:  # one scan for every count column
        row = conn.execute(
            sql.SQL("select {} from {}").format(
                sql.SQL(", ").join(
                    sql.SQL("count(*) filter (where {} < 0)").format(sql.Identifier(c))
                    for c in counts
                ),
                qualified(spec.name),
            )
        ).fetchone()
        negatives = {column: int(n) for column, n in zip(counts, row, strict=True) if n}
    share_problems = {}
    for column in spec.share_columns:
        out_of_range, total, rows = conn.execute(
            sql.SQL(
                "select count(*) filter (where {c} < 0 or {c} > 100), sum({c}), count(*) from {v}"
            ).format(c=sql.Identifier(column), v=qualified(spec.name))
        ).fetchone()
        if out_of_range or (rows and abs((total or 0) - 100) > Decimal("0.1")):
            share_problems[column] = {"out_of_range": int(out_of_range), "sum": float(total or 0)}
    return (
        "values_sane",
        not negatives and not share_problems,
        {
            "count_columns_checked": len(counts),
            "negative_counts": dg.MetadataValue.json(negatives),
            "share_problems": dg.MetadataValue.json(share_problems),
        },
    )


def _revenue_reconciles(conn: psycopg.Connection, spec: ViewSpec) -> tuple[str, bool, dict]:
    """The view against the recount taken with the facts it was built from: per platform
    when the view's grain has one, else in total. Sales of an Unknown platform are one
    platform of their own, as in the views."""
    per_platform = "platform_id" in spec.grain
    key = sql.SQL("platform_id::text") if per_platform else sql.SQL("''")
    orders = sql.Identifier(spec.orders_column) if spec.orders_column else sql.SQL("null::bigint")
    rows = conn.execute(
        sql.SQL("select {k}, sum({o}), coalesce(sum({r}), 0) from {v} group by 1").format(
            k=key, o=orders, r=sql.Identifier(spec.revenue_column), v=qualified(spec.name)
        )
    ).fetchall()
    view = {k: (None if n is None else int(n), Decimal(r)) for k, n, r in rows}
    recount = stored_recount(conn)
    if not per_platform:
        recount = {
            "": (
                sum(n for n, _ in recount.values()),
                sum((r for _, r in recount.values()), Decimal(0)),
            )
        }
    differences = {}
    for platform in sorted(set(view) | set(recount)):
        expected_orders, expected_revenue = recount.get(platform, (0, Decimal(0)))
        actual_orders, actual_revenue = view.get(platform, (0, Decimal(0)))
        orders_differ = spec.orders_column is not None and actual_orders != expected_orders
        if orders_differ or actual_revenue != expected_revenue:
            differences[platform or "total"] = {
                "view_orders": actual_orders,
                "source_orders": expected_orders,
                "view_revenue": str(actual_revenue),
                "source_revenue": str(expected_revenue),
            }
    view_revenue = sum((r for _, r in view.values()), Decimal(0))
    source_revenue = sum((r for _, r in recount.values()), Decimal(0))
    return (
        "revenue_reconciles",
        not differences,
        {
            "view_revenue": float(view_revenue),
            "source_revenue": float(source_revenue),
            "difference": float(view_revenue - source_revenue),
            "compared": "per platform" if per_platform else "in total",
            "differences": dg.MetadataValue.json(differences),
        },
    )
