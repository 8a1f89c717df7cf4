"""Column lineage: which source columns each view column is computed from.

Two small maps do the work: what each cleaned-layer column is made of (``FACT_SOURCES``),
and which cleaned column each gold column aggregates (``GOLD_INPUTS``; a gold column with
the same name as a cleaned column needs no entry). Column names are shared across views,
so a new view usually needs nothing here.
"""

from __future__ import annotations

import dagster as dg

from soleflip_bi.shared import catalogue
from soleflip_bi.shared.catalogue import SourceTable

Col = tuple[str, str, str]  # schema, table, column

ORDER, STOCK, PRODUCT, BRAND = catalogue.ORDER, catalogue.STOCK, catalogue.PRODUCT, catalogue.BRAND
CATEGORY, SIZE, PLATFORM, SUPPLIER = (
    catalogue.CATEGORY,
    catalogue.SIZE,
    catalogue.MARKETPLACE,
    catalogue.SUPPLIER,
)


def _cols(table: SourceTable, *names: str) -> list[Col]:
    return [(*table.path, name) for name in names]


AMOUNT = _cols(ORDER, "gross_sale", "currency_code")
FACT_SOURCES: dict[str, list[Col]] = {
    "order_id": _cols(ORDER, "id"),
    "inventory_id": _cols(STOCK, "id"),
    "product_id": _cols(PRODUCT, "id"),
    "product_name": _cols(PRODUCT, "name"),
    "sku": _cols(PRODUCT, "sku"),
    "brand_id": _cols(BRAND, "id"),
    "brand_name": _cols(BRAND, "name"),
    "category_id": _cols(CATEGORY, "id"),
    "category_name": _cols(CATEGORY, "name"),
    "us_size": _cols(SIZE, "us_size"),
    "eu_size": _cols(SIZE, "eu_size"),
    "supplier_id": _cols(SUPPLIER, "id"),
    "supplier_name": _cols(SUPPLIER, "name"),
    "platform_id": _cols(PLATFORM, "id"),
    "platform_name": _cols(PLATFORM, "name"),
    "platform_slug": _cols(PLATFORM, "slug"),
    "status": _cols(ORDER, "status"),
    "sale_date": _cols(ORDER, "sold_at"),
    "sale_month": _cols(ORDER, "sold_at"),
    "units": _cols(ORDER, "id"),
    "revenue": AMOUNT,
    "fees": _cols(ORDER, "platform_fee", "currency_code"),
    "shipping": _cols(ORDER, "shipping_cost", "currency_code"),
    "net_proceeds": _cols(ORDER, "net_proceeds", "gross_sale", "platform_fee", "shipping_cost"),
    "profit": [*_cols(ORDER, "net_proceeds", "gross_sale"), *_cols(STOCK, "purchase_price")],
    "roi": [*_cols(ORDER, "net_proceeds", "gross_sale"), *_cols(STOCK, "purchase_price")],
    "purchase_price": _cols(STOCK, "purchase_price"),
    "gross_purchase_price": _cols(STOCK, "gross_purchase_price"),
    "vat_amount": _cols(STOCK, "vat_amount"),
    "purchase_date": _cols(STOCK, "purchase_date", "created_at"),
    "quantity": _cols(STOCK, "quantity"),
    "in_stock": _cols(STOCK, "status"),
    "condition": _cols(STOCK, "condition"),
    "color": _cols(STOCK, "color"),
    "location": _cols(STOCK, "location"),
    "country": _cols(ORDER, "buyer_country"),
    "city": _cols(ORDER, "buyer_city"),
    "payout_received": _cols(ORDER, "payout_received"),
    "payout_days": _cols(ORDER, "payout_date", "sold_at"),
}

_SALE_DATE = ["sale_date"]
_REVENUE = ["revenue"]
GOLD_INPUTS: dict[str, list[str]] = {
    "sale_week": _SALE_DATE,
    "sale_quarter": _SALE_DATE,
    "sale_year": _SALE_DATE,
    "first_sale_date": _SALE_DATE,
    "last_sale_date": _SALE_DATE,
    "last_sold_date": _SALE_DATE,
    "sales_duration_days": _SALE_DATE,
    "active_months": ["sale_month"],
    "total_orders": ["order_id"],
    "units_sold": ["units"],
    "times_sold": ["order_id"],
    "total_revenue": _REVENUE,
    "total_revenue_generated": _REVENUE,
    "avg_order_value": _REVENUE,
    "min_order_value": _REVENUE,
    "max_order_value": _REVENUE,
    "avg_sale_price": _REVENUE,
    "min_sale_price": _REVENUE,
    "max_sale_price": _REVENUE,
    "price_volatility": _REVENUE,
    "price_variance": _REVENUE,
    "price_positioning": _REVENUE,
    "market_share_pct": _REVENUE,
    "sales_share_pct": ["units"],
    "volume_tier": ["units"],
    "total_net_proceeds": ["net_proceeds"],
    "total_profit": ["profit"],
    "avg_roi": ["roi"],
    "profit_margin_pct": ["profit", "revenue"],
    "total_fees": ["fees"],
    "avg_fee": ["fees"],
    "fee_pct": ["fees", "revenue"],
    "total_shipping_costs": ["shipping"],
    "avg_shipping_cost": ["shipping"],
    "payouts_received": ["payout_received"],
    "avg_payout_days": ["payout_days"],
    "countries_served": ["country"],
    "cities_served": ["country", "city"],
    "country_code": ["country"],
    "platform_count": ["platform_id"],
    "platform_names": ["platform_name"],
    "unique_products": ["product_id"],
    "unique_brands": ["brand_id"],
    "product_variety": ["product_id"],
    "supplier_count": ["supplier_id"],
    "avg_purchase_price": ["purchase_price"],
    "total_spent": ["purchase_price", "quantity"],
    "total_purchases": ["inventory_id"],
    "items_purchased": ["inventory_id"],
    "items_sold": ["inventory_id", "order_id"],
    "sell_through_rate": ["inventory_id", "order_id"],
    "avg_days_to_sell": ["purchase_date", "sale_date"],
    "unsold_units": ["quantity", "in_stock"],
    "unsold_value": ["purchase_price", "in_stock"],
    "items_in_stock": ["quantity", "in_stock"],
    "stock_value": ["purchase_price", "quantity"],
    "current_inventory_value": ["purchase_price", "quantity", "in_stock"],
    "days_in_stock": ["purchase_date", "sale_date"],
    "stock_category": ["purchase_date"],
    "avg_days_in_stock": ["purchase_date"],
    "items": ["inventory_id"],
    "sold_items": ["inventory_id", "order_id"],
    "days_in_stock_sum": ["purchase_date", "sale_date"],
    "min_days_in_stock": ["purchase_date", "sale_date"],
    "max_days_in_stock": ["purchase_date"],
    "brand_segment": [],
    "brand_price_tier": [],
    "target_demographic": [],
    "is_collaboration": [],
    "parent_brand_id": [],
    "parent_brand_name": [],
    "supplier_email": [],
    "supplier_phone": [],
    "supplier_country": [],
    "supplier_rating": [],
}

# Gold columns read straight from a dimension table rather than through the cleaned layer.
DIRECT_SOURCES: dict[str, list[Col]] = {
    "brand_segment": _cols(BRAND, "segment"),
    "brand_price_tier": _cols(BRAND, "price_tier"),
    "target_demographic": _cols(BRAND, "target_demographic"),
    "is_collaboration": _cols(BRAND, "is_collaboration"),
    "parent_brand_id": _cols(BRAND, "parent_brand_id"),
    "parent_brand_name": _cols(BRAND, "parent_brand_id", "name"),
    "supplier_email": _cols(SUPPLIER, "email"),
    "supplier_phone": _cols(SUPPLIER, "phone"),
    "supplier_country": _cols(SUPPLIER, "country"),
    "supplier_rating": _cols(SUPPLIER, "rating"),
}


def source_columns(column: str) -> list[Col]:
    inputs = GOLD_INPUTS.get(column, [column])
    found = [src for name in inputs for src in FACT_SOURCES.get(name, [])]
    found += DIRECT_SOURCES.get(column, [])
    return sorted(set(found))


def column_lineage(columns: list[str]) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(
        deps_by_column={
            column: [
                dg.TableColumnDep(asset_key=dg.AssetKey([schema, table]), column_name=name)
                for schema, table, name in source_columns(column)
            ]
            for column in columns
        }
    )
