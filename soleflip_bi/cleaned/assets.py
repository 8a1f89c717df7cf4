"""The cleaned layer as assets: between the source tables and the gold views."""

from datetime import date

import dagster as dg
import psycopg
from dagster import AssetExecutionContext

from soleflip_bi.cleaned.facts import FactsMode, refresh_order_facts
from soleflip_bi.cleaned.layer import (
    cleaned_layer_hash,
    ensure_cleaned_layer,
    quality_issues,
)
from soleflip_bi.cleaned.rates import STALE_AFTER_DAYS, StaleRate, newest_rates, stale_rates
from soleflip_bi.cleaned.rates_upgrade import RatesUpgradeBlocked
from soleflip_bi.cleaned.recount import OrderAccounting, stored_accounting
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.database.run_order import refresh_step
from soleflip_bi.database.steps import REFRESH_POOL, carried_check, retry_if_transient
from soleflip_bi.shared.catalogue import (
    BRAND,
    CATEGORY,
    MARKETPLACE,
    ORDER,
    PRODUCT,
    SIZE,
    STOCK,
    SUPPLIER,
    SourceTable,
)
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA
from soleflip_bi.shared.tags import FULL_RECOUNT_TIER, SENSOR_TAG, TIER_TAG

CLEANED_GROUP = "cleaned"

ORDER_TABLES = (ORDER, STOCK, PRODUCT, BRAND, CATEGORY, MARKETPLACE, SUPPLIER)
STOCK_TABLES = (STOCK, PRODUCT, BRAND, CATEGORY, SIZE, SUPPLIER)


def cleaned_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([ANALYTICS_SCHEMA, name])


def _source_keys(tables: tuple[SourceTable, ...]) -> list[dg.AssetKey]:
    return [dg.AssetKey(list(table.path)) for table in tables]


CLEANED_SPECS = [
    dg.AssetSpec(
        cleaned_key("stock_facts"),
        description="Stock items with every dimension resolved, stored and maintained with "
        "the order facts; rejected items excluded.",
        deps=_source_keys(STOCK_TABLES),
        group_name=CLEANED_GROUP,
        kinds={"postgres"},
        tags={"layer": "cleaned"},
    ),
    dg.AssetSpec(
        cleaned_key("order_facts"),
        description="The one definition of a sale, amounts in the reporting currency.",
        deps=[*_source_keys(ORDER_TABLES), cleaned_key("stock_facts")],
        group_name=CLEANED_GROUP,
        kinds={"postgres"},
        tags={"layer": "cleaned"},
    ),
    dg.AssetSpec(
        cleaned_key("source_quality_issues"),
        description="Every source row kept out of the gold views, with its reason.",
        deps=[cleaned_key("order_facts"), cleaned_key("stock_facts")],
        group_name=CLEANED_GROUP,
        kinds={"postgres"},
        tags={"layer": "cleaned"},
    ),
]

CLEANED_KEYS = [spec.key for spec in CLEANED_SPECS]

REJECTED_ROWS_CHECK = dg.AssetCheckSpec(
    "rejected_source_rows",
    asset=cleaned_key("source_quality_issues"),
    description="Source rows excluded from the views (rejected) or counted with unknown "
    "cost (flagged), by reason, with sample ids.",
)
ACCOUNTING_CHECK = dg.AssetCheckSpec(
    "orders_accounted_for",
    asset=cleaned_key("order_facts"),
    description="Every source order is exactly one of a sale, an order that is not a sale, "
    "or rejected with a reason; the stored facts hold every valid sale once.",
)

RATES_CHECK = dg.AssetCheckSpec(
    "exchange_rates_current",
    asset=cleaned_key("order_facts"),
    description=f"Warns when a currency's newest exchange rate is more than "
    f"{STALE_AFTER_DAYS} days older than its newest sale (those sales take that old rate): "
    "which currencies, and since when.",
)


@dg.multi_asset(
    name="cleaned_layer",
    specs=CLEANED_SPECS,
    check_specs=[REJECTED_ROWS_CHECK, ACCOUNTING_CHECK, RATES_CHECK],
    can_subset=False,
    # In the refresh pool, as every view: a run with any of them is a refresh run, which
    # the queue starts only while no other is in progress (database/run_order.py).
    pool=REFRESH_POOL,
)
def cleaned_layer(context: AssetExecutionContext, postgres: PostgresResource):
    """Bring the cleaned layer up to date: its definitions (when the code changed) and the
    stored order facts (when a source changed). Every refresh run starts with this step,
    once the refresh runs created before it have ended; the views only read what it
    maintains."""
    with refresh_step(context, postgres.url()):
        try:
            with postgres.connect() as conn:
                try:
                    upgraded = ensure_cleaned_layer(conn)
                except RatesUpgradeBlocked as blocked:
                    raise dg.Failure(description=str(blocked), allow_retries=False) from None
                applied = upgraded is not None
                recount = context.run.tags.get(TIER_TAG) == FULL_RECOUNT_TIER
                facts = refresh_order_facts(conn, recount=recount)
                stored = stored_accounting(conn)
                because = None
                if facts.mode is FactsMode.SKIPPED and not applied:
                    because = "no source changed since that evaluation"
                elif SENSOR_TAG in context.run.tags and not applied:
                    # Reading every source row for the report costs seconds at a million
                    # orders; the scheduled runs (hourly) and `views refresh` take it.
                    because = "a sensor run refreshes the views; the scheduled runs report this"
                rejected = because and carried_check(context, REJECTED_ROWS_CHECK.key, because)
                rejected = rejected or rejected_rows_result(conn)
                unchanged = facts.mode is FactsMode.SKIPPED and not applied
                rates = unchanged and carried_check(context, RATES_CHECK.key, because or "")
                rates = rates or rates_result(stale_rates(conn), newest_rates(conn))
                conn.rollback()
        except psycopg.Error as error:
            retry_if_transient(context, error)
            raise
    context.log.info(
        f"facts: {facts.mode.value}, orders {facts.rows_deleted} removed / "
        f"{facts.rows_inserted} stored, stock {facts.stock_rows_deleted} removed / "
        f"{facts.stock_rows_inserted} stored, {facts.seconds:.2f} s"
    )
    for note in upgraded or []:
        context.log.warning(note)
    definition: dict[str, object] = {
        "definition_hash": cleaned_layer_hash(),
        "definitions_applied": applied,
    }
    if upgraded:
        definition["upgrade"] = dg.MetadataValue.md("\n".join(f"- {n}" for n in upgraded))

    def maintained(removed: int, stored: int) -> dict[str, object]:
        return {
            **definition,
            "facts_mode": facts.mode.value,
            "rows_removed": removed,
            "rows_stored": stored,
        }

    yield dg.MaterializeResult(
        asset_key=cleaned_key("stock_facts"),
        metadata=maintained(facts.stock_rows_deleted, facts.stock_rows_inserted),
    )
    yield dg.MaterializeResult(
        asset_key=cleaned_key("order_facts"),
        metadata={
            **maintained(facts.rows_deleted, facts.rows_inserted),
            "duration_seconds": dg.MetadataValue.float(round(facts.seconds, 3)),
            "dagster/row_count": stored.sales if stored else 0,
        },
    )
    yield dg.MaterializeResult(
        asset_key=cleaned_key("source_quality_issues"),
        metadata={
            **definition,
            "rejected_rows": rejected.metadata["rejected_rows"],
            "flagged_rows": rejected.metadata["flagged_rows"],
        },
    )
    yield rejected
    yield accounting_result(stored)
    yield rates


def rates_result(stale: list[StaleRate], newest: dict[str, date]) -> dg.AssetCheckResult:
    """Passes when every currency sold has a rate within STALE_AFTER_DAYS days of its
    newest sale; otherwise warns, naming each currency and the day of its newest rate."""
    metadata: dict[str, object] = {
        "newest_rate_per_currency": dg.MetadataValue.json(
            {currency: day.isoformat() for currency, day in newest.items()}
        ),
        "stale_currencies": len(stale),
    }
    description = None
    if stale:
        description = "; ".join(
            f"{s.currency}: newest rate {s.newest_rate}, {s.days} days before its newest "
            f"sale ({s.newest_sale})"
            for s in stale
        ) + (
            " — those sales take that old rate; load newer rates with `soleflip-bi rates load FILE`"
        )
        metadata["stale"] = dg.MetadataValue.text(description)
    return dg.AssetCheckResult(
        check_name=RATES_CHECK.name,
        asset_key=RATES_CHECK.asset_key,
        passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata=metadata,
    )


def rejected_rows_result(conn) -> dg.AssetCheckResult:
    """Passes when no source row is rejected or flagged; otherwise warns with counts and
    sample ids."""
    issues = quality_issues(conn)
    counts = {key: n for key, (n, _) in issues.items()}
    samples = {f"{table} {reason}": ids for (table, reason, _), (_, ids) in issues.items()}
    rejected = sum(n for (_, _, severity), n in counts.items() if severity == "error")
    flagged = sum(n for (_, _, severity), n in counts.items() if severity == "warning")
    return dg.AssetCheckResult(
        check_name=REJECTED_ROWS_CHECK.name,
        asset_key=REJECTED_ROWS_CHECK.asset_key,
        passed=rejected + flagged == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rejected_rows": rejected,
            "flagged_rows": flagged,
            **{f"{table} {reason}": n for (table, reason, _), n in counts.items()},
            "sample_ids": dg.MetadataValue.json(samples),
        },
    )


def accounting_result(accounting: OrderAccounting | None) -> dg.AssetCheckResult:
    """Fails (error) unless sales + not sales + rejected = the rows of sales."order"."""
    if accounting is None:
        passed, metadata = False, {"reason": "the order facts have not been maintained yet"}
    else:
        passed, metadata = (
            accounting.balanced,
            {
                "source_rows": accounting.source_rows,
                "sales": accounting.sales,
                "not_sales": accounting.not_sales,
                "rejected": accounting.rejected,
                "unaccounted": accounting.unaccounted,
                "valid_sales_not_in_facts": accounting.valid_sales - accounting.sales,
                "orders_the_cleaned_layer_lost": accounting.missing,
                "last_full_recount": accounting.full_at.isoformat(),
            },
        )
    return dg.AssetCheckResult(
        check_name=ACCOUNTING_CHECK.name,
        asset_key=ACCOUNTING_CHECK.asset_key,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
    )
