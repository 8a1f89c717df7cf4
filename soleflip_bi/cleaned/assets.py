"""The cleaned layer as assets: between the source tables and the gold views."""

import dagster as dg
from dagster import AssetExecutionContext

from soleflip_bi.cleaned.layer import (
    apply_cleaned_layer,
    cleaned_layer_hash,
    quality_issue_counts,
    quality_issue_samples,
)
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
    description="Source rows excluded from the views, by reason, with sample ids.",
)


@dg.multi_asset(
    name="cleaned_layer",
    specs=CLEANED_SPECS,
    check_specs=[REJECTED_ROWS_CHECK],
    can_subset=False,
)
def cleaned_layer(context: AssetExecutionContext, postgres: PostgresResource):
    """(Re)create the reference tables and plain views of the cleaned layer."""
    with postgres.connect() as conn:
        apply_cleaned_layer(conn)
        yield from (
            dg.MaterializeResult(
                asset_key=spec.key, metadata={"definition_hash": cleaned_layer_hash()}
            )
            for spec in CLEANED_SPECS
        )
        yield rejected_rows_result(conn)


def rejected_rows_result(conn) -> dg.AssetCheckResult:
    """Passes when no source row is rejected; otherwise warns with counts and sample ids."""
    counts = quality_issue_counts(conn)
    samples = quality_issue_samples(conn)
    total = sum(counts.values())
    return dg.AssetCheckResult(
        check_name=REJECTED_ROWS_CHECK.name,
        asset_key=REJECTED_ROWS_CHECK.asset_key,
        passed=total == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rejected_rows": total,
            **{f"{table} {reason}": count for (table, reason), count in counts.items()},
            "sample_ids": dg.MetadataValue.json(samples),
        },
    )
