"""The source tables, stated once: what each is, the columns the views read, its stream.

It feeds the observable source assets, the change-capture triggers, the roles' grants,
column lineage and the README table an operator uses to check a production database.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from psycopg import sql


class Source(StrEnum):
    """A change stream the sensor watches; a view lists the ones that should refresh it."""

    ORDERS = "orders"
    INVENTORY = "inventory"
    # The exchange rates (analytics.currency_rate, the cleaned layer's reference data),
    # whoever writes them: `soleflip-bi rates load`, a DBA's UPDATE, the shop's own job.
    # The days and currencies changed go to soleflip_bi.changed_rate as well. Every view
    # reading the order facts is refreshed on it (``ViewSpec.watches``).
    RATES = "rates"


# Dimension tables write to this stream: no sensor watches it, but a view is only skipped
# as unchanged when none of its tables, dimensions included, changed since its refresh.
CATALOG_STREAM = "catalog"
RATES_STREAM = Source.RATES


@dataclass(frozen=True)
class SourceTable:
    schema: str
    name: str
    description: str
    columns: tuple[str, ...]
    # The change stream its writes are logged to.
    stream: str = CATALOG_STREAM
    # Whether the ids of changed rows are logged too (incremental facts maintenance).
    row_changes: bool = False

    @property
    def qualified_name(self) -> str:
        """How SQL spells it (``order`` is a reserved word, so it is always quoted)."""
        return (
            f'{self.schema}."{self.name}"'
            if self.name == "order"
            else (f"{self.schema}.{self.name}")
        )

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    @property
    def path(self) -> tuple[str, str]:
        return (self.schema, self.name)


BRAND = SourceTable(
    "catalog",
    "brand",
    "Brands, with segment, price tier and collaborations.",
    (
        "id",
        "name",
        "segment",
        "price_tier",
        "target_demographic",
        "parent_brand_id",
        "is_collaboration",
    ),
)
CATEGORY = SourceTable("catalog", "category", "Product categories.", ("id", "name"))
SIZE = SourceTable("catalog", "size_master", "Size system (US / EU).", ("id", "us_size", "eu_size"))
PRODUCT = SourceTable(
    "catalog",
    "product",
    "The product catalogue.",
    ("id", "sku", "style_code", "name", "brand_id", "category_id", "retail_price"),
)
MARKETPLACE = SourceTable(
    "platform", "marketplace", "Marketplaces the shop sells on.", ("id", "name", "slug")
)
SUPPLIER = SourceTable(
    "supplier",
    "profile",
    "Suppliers stock is bought from.",
    ("id", "name", "email", "phone", "country", "rating"),
)
STOCK = SourceTable(
    "inventory",
    "stock",
    "Physical stock items.",
    (
        "id",
        "product_id",
        "size_id",
        "supplier_id",
        "quantity",
        "status",
        "condition",
        "color",
        "location",
        "purchase_price",
        "gross_purchase_price",
        "vat_amount",
        "purchase_date",
        "created_at",
        "updated_at",
    ),
    stream=Source.INVENTORY,
    row_changes=True,
)
ORDER = SourceTable(
    "sales",
    "order",
    "Orders from every marketplace.",
    (
        "id",
        "stockx_order_number",
        "inventory_item_id",
        "platform_id",
        "status",
        "currency_code",
        "gross_sale",
        "platform_fee",
        "shipping_cost",
        "net_proceeds",
        "net_profit",
        "roi",
        "buyer_country",
        "buyer_city",
        "payout_received",
        "payout_date",
        "sold_at",
        "raw_data",
        "platform_specific_data",
        "created_at",
        "updated_at",
    ),
    stream=Source.ORDERS,
    row_changes=True,
)

SOURCE_TABLES: tuple[SourceTable, ...] = (
    BRAND,
    CATEGORY,
    SIZE,
    PRODUCT,
    MARKETPLACE,
    SUPPLIER,
    STOCK,
    ORDER,
)

STREAMS: tuple[str, ...] = (*Source, CATALOG_STREAM)


def watched_table(source: Source) -> SourceTable | None:
    """The source table whose writes make up a change stream (None for the rates, which
    are the cleaned layer's own table, not a source Dagster observes)."""
    return next((table for table in SOURCE_TABLES if table.stream == source), None)
