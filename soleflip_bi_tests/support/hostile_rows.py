"""Hypothesis strategies for hostile source rows, within what the source schema accepts.

Anything the column types allow can arrive from an importer: NULL wherever the column is
nullable, the extremes of numeric(12,2) and integer, dates from year 1 to 9999, unicode
(emoji, right-to-left text, combining marks), SQL and format metacharacters, statuses and
currencies nobody registered, orders on sold, rejected or no stock. NUL is left out:
PostgreSQL text cannot hold it, so no importer can deliver it.

References to other rows (products, stock, marketplaces) are drawn as (kind, index) and
resolved against the rows of the database at hand, so examples shrink well.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import strategies as st

INJECTIONS = (
    '\'; drop table sales."order"; --',
    "Robert'); DROP TABLE students;--",
    '" or "1"="1',
    "%s %(name)s {0} {}",
    "$$; select pg_sleep(10); $$",
    "\\'; \\\\",
    "analytics.metabase_executive_metrics",
)
UNICODE = (
    "😀👟🔥",
    "שלום עולם",
    "مرحبا بالعالم",
    "\u202eevil\u202c",
    "Zürich",
    "İstanbul",
    "ǅemal ß ﬁ",
    "e\u0301\u0301\u0301",
    "   ",
    "",
    "NULL",
    "\t\n\r",
)

SALE_STATUSES = ("completed", "shipped", "delivered", "paid")
OTHER_STATUSES = ("pending", "cancelled", "canceled", "refunded", "returned", "failed")
STOCK_STATUSES = ("available", "reserved", "listed", "consigned", "sold", "shipped", "lost")
CURRENCIES = ("EUR", "usd", "Gbp", "chf", "XXX", "€", "", "EU", " CH")

no_nul = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))


def hostile_text(max_size: int) -> st.SearchStrategy[str]:
    known = [word[:max_size] for word in (*INJECTIONS, *UNICODE)]
    return st.one_of(st.sampled_from(known), st.text(alphabet=no_nul, max_size=max_size))


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


def money(digits: int, places: int = 2) -> st.SearchStrategy[Decimal]:
    """Any value numeric(digits, places) holds, with its extremes drawn often."""
    top = Decimal(10 ** (digits - places)) - Decimal(1).scaleb(-places)
    edges = [Decimal(0), Decimal(1).scaleb(-places), -Decimal(1).scaleb(-places), top, -top]
    return st.one_of(
        st.sampled_from(edges),
        st.decimals(min_value=-top, max_value=top, places=places, allow_nan=False),
    )


def moments() -> st.SearchStrategy[datetime]:
    return st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    )


def spelled(words: tuple[str, ...]) -> st.SearchStrategy[str]:
    """A known word as importers write it: any case, stray spaces."""
    return st.sampled_from(words).flatmap(
        lambda w: st.sampled_from([w, w.upper(), w.title(), f"  {w} ", f"{w.upper()}\t"])
    )


def reference(*kinds: str) -> st.SearchStrategy[tuple[str, int]]:
    return st.tuples(st.sampled_from(kinds), st.integers(0, 10_000))


def stock_rows() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "product_id": reference("product"),
            "size_id": maybe(reference("size")),
            "supplier_id": maybe(reference("supplier")),
            "quantity": st.one_of(
                st.sampled_from([0, 1, -1, 2**31 - 1, -(2**31)]), st.integers(-(2**31), 2**31 - 1)
            ),
            "status": st.one_of(spelled(STOCK_STATUSES), hostile_text(30)),
            "condition": maybe(hostile_text(30)),
            "color": maybe(hostile_text(60)),
            "location": maybe(hostile_text(120)),
            "purchase_price": maybe(money(10)),
            "gross_purchase_price": maybe(money(10)),
            "vat_amount": maybe(money(10)),
            "purchase_date": maybe(moments()),
        }
    )


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), hostile_text(40)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(hostile_text(20), inner, max_size=3)
    ),
    max_leaves=8,
)


def order_rows() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "stockx_order_number": maybe(hostile_text(50)),
            # sold or available demo stock, stock of this example, or none at all
            "inventory_item_id": maybe(reference("sold_stock", "available_stock", "new_stock")),
            "platform_id": maybe(reference("platform")),
            "status": st.one_of(
                st.none(), spelled(SALE_STATUSES), spelled(OTHER_STATUSES), hostile_text(30)
            ),
            "currency_code": maybe(st.one_of(st.sampled_from(CURRENCIES), hostile_text(3))),
            "gross_sale": maybe(money(12)),
            "platform_fee": maybe(money(12)),
            "shipping_cost": maybe(money(12)),
            "net_proceeds": maybe(money(12)),
            "net_profit": maybe(money(12)),
            "roi": maybe(money(10, places=4)),
            "buyer_country": maybe(hostile_text(60)),
            "buyer_city": maybe(hostile_text(120)),
            "payout_received": maybe(st.booleans()),
            "payout_date": maybe(moments()),
            "sold_at": maybe(moments()),
            "raw_data": maybe(json_values),
            "platform_specific_data": maybe(json_values),
        }
    )
