"""The catalogue of source tables: what each is and which of its columns the views read.

It feeds the external assets (lineage only, never written) and the README table an
operator uses to check a production database.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql


@dataclass(frozen=True)
class SourceTable:
    schema: str
    name: str
    description: str
    columns: tuple[str, ...]

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


SOURCE_TABLES: tuple[SourceTable, ...] = (
    SourceTable(
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
    ),
    SourceTable("catalog", "category", "Product categories.", ("id", "name")),
    SourceTable("catalog", "size_master", "Size system (US / EU).", ("id", "us_size", "eu_size")),
    SourceTable(
        "catalog",
        "product",
        "The product catalogue.",
        ("id", "sku", "style_code", "name", "brand_id", "category_id", "retail_price"),
    ),
    SourceTable(
        "platform", "marketplace", "Marketplaces the shop sells on.", ("id", "name", "slug")
    ),
    SourceTable(
        "supplier",
        "profile",
        "Suppliers stock is bought from.",
        ("id", "name", "email", "phone", "country", "rating"),
    ),
    SourceTable(
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
    ),
    SourceTable(
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
    ),
)
