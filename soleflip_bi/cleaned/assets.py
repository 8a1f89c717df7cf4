"""The cleaned layer as assets: between the source tables and the gold views."""

import dagster as dg
from dagster import AssetExecutionContext

from soleflip_bi.cleaned.facts import refresh_order_facts
from soleflip_bi.cleaned.layer import (
    apply_cleaned_layer,
    cleaned_layer_hash,
    quality_issue_counts,
    quality_issue_samples,
)
from soleflip_bi.cleaned.recount import stored_accounting
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.sources.tables import SOURCE_TABLES

CLEANED_GROUP = "cleaned"

ORDER_TABLES = ("order", "stock", "product", "brand", "category", "marketplace", "profile")
STOCK_TABLES = ("stock", "product", "brand", "category", "size_master", "profile")


def cleaned_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["analytics", name])


def _source_keys(table_names: tuple[str, ...]) -> list[dg.AssetKey]:
    return [dg.AssetKey([t.schema, t.name]) for t in SOURCE_TABLES if t.name in table_names]


CLEANED_SPECS = [
    dg.AssetSpec(
        cleaned_key("stock_facts"),
        description="Stock items with every dimension resolved; rejected items excluded.",
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


@dg.multi_asset(
    name="cleaned_layer",
    specs=CLEANED_SPECS,
    check_specs=[REJECTED_ROWS_CHECK, ACCOUNTING_CHECK],
    can_subset=False,
)
def cleaned_layer(context: AssetExecutionContext, postgres: PostgresResource):
    """(Re)create the reference tables and plain views of the cleaned layer and bring the
    stored order facts up to date."""
    with postgres.connect() as conn:
        apply_cleaned_layer(conn)
        refresh_order_facts(conn)
        yield from (
            dg.MaterializeResult(
                asset_key=spec.key, metadata={"definition_hash": cleaned_layer_hash()}
            )
            for spec in CLEANED_SPECS
        )
        yield rejected_rows_result(conn)
        yield accounting_result(conn)


def rejected_rows_result(conn) -> dg.AssetCheckResult:
    """Passes when no source row is rejected or flagged; otherwise warns with counts and
    sample ids."""
    counts = quality_issue_counts(conn)
    samples = quality_issue_samples(conn)
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


def accounting_result(conn) -> dg.AssetCheckResult:
    """Fails (error) unless sales + not sales + rejected = the rows of sales."order"."""
    accounting = stored_accounting(conn)
    if accounting is None:
        return dg.AssetCheckResult(
            check_name=ACCOUNTING_CHECK.name,
            asset_key=ACCOUNTING_CHECK.asset_key,
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"reason": "the order facts have not been maintained yet"},
        )
    return dg.AssetCheckResult(
        check_name=ACCOUNTING_CHECK.name,
        asset_key=ACCOUNTING_CHECK.asset_key,
        passed=accounting.balanced,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
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
