"""Column lineage: which source columns each view column is computed from.

From a view down to the stored facts, the lineage is read from the SQL
(``sql_lineage.py``: the view, the rollups and the cleaned views it reads) and kept in
``lineage.json``, so a run does not parse SQL (sqlglot's import alone costs about 0.4 s of
every process); ``soleflip_bi_tests/unit/test_lineage.py`` fails when the file and the SQL
disagree (regenerate with ``UPDATE_LINEAGE=1``). The stored facts themselves are
maintained by the incremental statements of ``cleaned/facts.py`` (conversions, look-ups,
corrections), so what each fact column is made of is written here once
(``FACT_SOURCES``); the same test fails when a fact column the views read has no entry, or
an entry names a column the facts do not have. A new view needs its lineage regenerated,
nothing else.
"""

from __future__ import annotations

import json
from importlib import resources

import dagster as dg

from soleflip_bi.shared import catalogue
from soleflip_bi.shared.catalogue import SourceTable
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA
from soleflip_bi.views.registry import ViewSpec

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


FACT_TABLES = ("order_facts", "stock_facts")  # the stored facts (sql_lineage.py stops there)
FACT_RELATIONS = {(ANALYTICS_SCHEMA, table) for table in FACT_TABLES}
# view -> column -> the [schema, table, column] it is computed from (sql_lineage.py)
VIEW_INPUTS: dict[str, dict[str, list[list[str]]]] = json.loads(
    resources.files("soleflip_bi.views").joinpath("lineage.json").read_text()
)
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
    "country_key": _cols(ORDER, "buyer_country"),
    "city_key": _cols(ORDER, "buyer_city"),
    "payout_received": _cols(ORDER, "payout_received"),
    "payout_days": _cols(ORDER, "payout_date", "sold_at"),
}


def source_columns(spec: ViewSpec, column: str) -> list[Col]:
    """The source columns a view column is computed from: its inputs as the SQL says
    (``lineage.json``), each fact column through ``FACT_SOURCES``."""
    found: set[Col] = set()
    for schema, table, name in VIEW_INPUTS.get(spec.name, {}).get(column, []):
        if (schema, table) in FACT_RELATIONS:
            found.update(FACT_SOURCES.get(name, []))
        else:
            found.add((schema, table, name))
    return sorted(found)


def column_lineage(spec: ViewSpec, columns: list[str]) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(
        deps_by_column={
            column: [
                dg.TableColumnDep(asset_key=dg.AssetKey([schema, table]), column_name=name)
                for schema, table, name in source_columns(spec, column)
            ]
            for column in columns
        }
    )
