"""The views agree with an independent pandas computation straight from the source tables.

The pandas code below re-implements the definition of a sale from the README, without
reading anything in `analytics`, so a mistake in the SQL shows up as a difference here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import psycopg
import pytest

from soleflip_bi_tests.support.ecb import with_rates
from soleflip_bi_tests.support.shop import new_shop

SALE_STATUSES = {"completed", "shipped", "delivered", "paid"}
UNKNOWN = "00000000-0000-0000-0000-000000000000"


def _frame(conn: psycopg.Connection, query: str) -> pd.DataFrame:
    cur = conn.execute(query)
    return pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])


def name_key(value: object) -> str:
    """A buyer name as the README groups it: trimmed, whitespace collapsed, case-folded."""
    cleaned = " ".join(value.split()) if isinstance(value, str) else ""
    return unicodedata.normalize("NFC", cleaned or "Unknown").lower()


def expected_sales(conn: psycopg.Connection) -> pd.DataFrame:
    """The sales by the README's rule, which looks at the order alone; the stock item only
    supplies the product, brand and supplier (Unknown when it is missing)."""
    now = conn.execute("select now()").fetchone()[0]
    orders = _frame(conn, 'select * from sales."order"')
    stock = _frame(conn, "select id, product_id, supplier_id from inventory.stock")
    products = _frame(conn, "select id, brand_id from catalog.product")
    stock = stock.merge(products, left_on="product_id", right_on="id", suffixes=("", "_product"))
    stock = stock[["id", "product_id", "brand_id", "supplier_id"]].rename(
        columns={"id": "inventory_item_id"}
    )

    orders["currency"] = orders["currency_code"].fillna("").str.strip().str.upper()
    orders = with_rates(orders)  # the ECB rate of the sale's day, from ECB's own file
    status = orders["status"].fillna("").str.strip().str.lower()
    sales = orders[
        status.isin(SALE_STATUSES)
        & orders["sold_at"].notna()
        & (orders["sold_at"] <= now + timedelta(days=1))
        & orders["gross_sale"].notna()
        & ~(orders["gross_sale"] < 0)
        & ~(orders["platform_fee"].fillna(0) < 0)
        & ~(orders["shipping_cost"].fillna(0) < 0)
        & orders["rate"].notna()
    ].copy()
    sales["revenue"] = [
        (gross / rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
        for gross, rate in zip(sales["gross_sale"], sales["rate"], strict=True)
    ]
    sales = sales.merge(stock, on="inventory_item_id", how="left")
    for column in ("product_id", "brand_id", "supplier_id", "platform_id"):
        sales[column] = sales[column].map(lambda v: str(v) if pd.notna(v) else UNKNOWN)
    sales["country"] = sales["buyer_country"].map(name_key)
    return sales


def totals_by(sales: pd.DataFrame, key: str) -> dict[str, tuple[Decimal, int]]:
    grouped = sales.groupby(key).agg(revenue=("revenue", "sum"), orders=("id", "count"))
    return {str(k): (Decimal(r.revenue), int(r.orders)) for k, r in grouped.iterrows()}


def view_totals(conn, view: str, key: str, revenue: str, orders: str) -> dict:
    rows = conn.execute(
        f"select {key}::text, sum({revenue}), sum({orders}) from analytics.{view} group by 1"
    ).fetchall()
    rekey = name_key if key == "country" else str
    return {rekey(k): (Decimal(r), int(o)) for k, r, o in rows}


@pytest.fixture(scope="module")
def built() -> Iterator[str]:
    """The demo shop with every view built, in a database of this module's own."""
    with new_shop() as url:
        yield url


@pytest.mark.parametrize(
    ("view", "key", "revenue", "orders"),
    [
        ("metabase_platform_performance", "platform_id", "total_revenue", "total_orders"),
        ("metabase_executive_metrics", "platform_id", "total_revenue", "total_orders"),
        ("metabase_product_performance", "product_id", "total_revenue", "total_orders"),
        ("metabase_brand_analytics", "brand_id", "total_revenue", "total_orders"),
        ("metabase_customer_geography", "country", "total_revenue", "total_orders"),
        ("metabase_supplier_performance", "supplier_id", "total_revenue_generated", "units_sold"),
    ],
)
def test_view_equals_pandas(built: str, view: str, key: str, revenue: str, orders: str) -> None:
    with psycopg.connect(built) as conn:
        expected = totals_by(expected_sales(conn), key)
        actual = view_totals(conn, view, key, revenue, orders)
    assert actual == expected


def test_units_per_product_equal_pandas(built: str) -> None:
    with psycopg.connect(built) as conn:
        expected = expected_sales(conn).groupby("product_id").size().to_dict()
        actual = dict(
            conn.execute(
                "select product_id::text, units_sold from analytics.metabase_product_performance"
            ).fetchall()
        )
    assert actual == expected


def test_every_revenue_view_agrees_on_the_total(built: str) -> None:
    with psycopg.connect(built) as conn:
        expected = expected_sales(conn)["revenue"].sum()
        totals = {
            view: conn.execute(f"select sum({column}) from analytics.{view}").fetchone()[0]
            for view, column in [
                ("metabase_executive_metrics", "total_revenue"),
                ("metabase_platform_performance", "total_revenue"),
                ("metabase_product_performance", "total_revenue"),
                ("metabase_brand_analytics", "total_revenue"),
                ("metabase_customer_geography", "total_revenue"),
                ("metabase_supplier_performance", "total_revenue_generated"),
                ("sales_summary_daily", "total_revenue"),
                ("supplier_performance_summary", "total_revenue"),
            ]
        }
    assert set(totals.values()) == {expected}, totals


def test_missing_dimensions_are_unknown_members_not_dropped(built: str) -> None:
    with psycopg.connect(built) as conn:
        unknown_city = conn.execute(
            "select total_orders from analytics.metabase_customer_geography where city = 'Unknown'"
        ).fetchall()
        unknown_supplier = conn.execute(
            "select total_purchases from analytics.metabase_supplier_performance "
            "where supplier_name = 'Unknown'"
        ).fetchone()
        berlin = conn.execute(
            "select count(*) from analytics.metabase_customer_geography "
            "where lower(city) = 'berlin' and country = 'DE'"
        ).fetchone()[0]
    assert unknown_city and sum(r[0] for r in unknown_city) > 0
    assert unknown_supplier[0] > 0
    assert berlin == 1  # 'Berlin', 'berlin ' and 'BERLIN' are one city
