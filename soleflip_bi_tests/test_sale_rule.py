"""The sale rule on named rows: a valid sale always counts, names keep their spelling.

Each test writes a few orders next to the demo data, refreshes every view and looks at
what Metabase would show: the revenue, the profit, the quality view, the geography rows.
The README's table "What a defect does" lists the same cases.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from soleflip_bi.cleaned.recount import recount_all, stored_accounting, stored_recount
from soleflip_bi.cleaned.rollups import FACTS, rebuild_rollups
from soleflip_bi.views.assets import view_asset_key
from soleflip_bi.views.checks import run_checks
from soleflip_bi.views.materialize import view_columns
from soleflip_bi.views.registry import VIEWS, get_view
from soleflip_bi_tests.support.shop import build_all_views, stock_shop

REVENUE_VIEWS = [spec for spec in VIEWS if spec.revenue_column]


class Shop:
    """A demo shop in its own database, with helpers to write named rows."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = psycopg.connect(url, autocommit=True)
        self.product = self._one("select id from catalog.product order by id limit 1")
        self.platform = self._one("select id from platform.marketplace where slug = 'goat'")

    def _one(self, query: str, params: tuple = ()) -> object:
        return self.conn.execute(query, params).fetchone()[0]

    def stock(self, *, unchecked: bool = False, **columns: object) -> uuid.UUID:
        """A stock item; ``unchecked`` writes it with foreign keys off (as a database
        without them would hold it)."""
        row = {
            "id": uuid.uuid4(),
            "product_id": self.product,
            "quantity": 1,
            "status": "sold",
            "purchase_price": Decimal("100.00"),
            **columns,
        }
        self._insert("inventory", "stock", row, unchecked)
        return row["id"]

    def order(self, *, unchecked: bool = False, **columns: object) -> uuid.UUID:
        """An order, by default a valid sale of a sound stock item of its own."""
        if "inventory_item_id" not in columns:
            columns["inventory_item_id"] = self.stock()
        row = {
            "id": uuid.uuid4(),
            "platform_id": self.platform,
            "status": "COMPLETED",
            "currency_code": "EUR",
            "gross_sale": Decimal("250.00"),
            "platform_fee": Decimal("20.00"),
            "shipping_cost": Decimal("10.00"),
            "sold_at": self._one("select now() - interval '2 days'"),
            "buyer_country": "DE",
            "buyer_city": "Berlin",
            **columns,
        }
        self._insert("sales", "order", row, unchecked)
        return row["id"]

    def _insert(self, schema: str, table: str, row: dict, unchecked: bool) -> None:
        with self.conn.transaction():
            if unchecked:
                self.conn.execute("set local session_replication_role = replica")
            self.conn.execute(
                sql.SQL("insert into {} ({}) values ({})").format(
                    sql.Identifier(schema, table),
                    sql.SQL(", ").join(map(sql.Identifier, row)),
                    sql.SQL(", ").join(sql.Placeholder() * len(row)),
                ),
                list(row.values()),
            )
            if unchecked:  # replica mode fires no triggers: log the change by hand
                source = "orders" if table == "order" else "inventory"
                self.conn.execute(
                    "insert into soleflip_bi.changed_row (source, row_id) values (%s, %s)",
                    (source, row["id"]),
                )
                self.conn.execute(
                    "insert into soleflip_bi.source_change (source, operation) "
                    "values (%s, 'INSERT')",
                    (source,),
                )

    def refresh(self) -> None:
        build_all_views(self.url)

    def fact(self, order_id: uuid.UUID) -> dict | None:
        cur = self.conn.execute(
            "select revenue, profit, roi, purchase_price, product_name, country, city "
            "from analytics.order_facts where order_id = %s",
            (order_id,),
        )
        row = cur.fetchone()
        return dict(zip([c.name for c in cur.description], row, strict=True)) if row else None

    def issue(self, order_id: uuid.UUID) -> tuple[str, str] | None:
        return self.conn.execute(
            "select reason, severity from analytics.source_quality_issues where row_id = %s",
            (order_id,),
        ).fetchone()

    def revenue_totals(self) -> dict[str, Decimal]:
        return {
            spec.name: self._one(
                sql.SQL("select sum({}) from {}").format(
                    sql.Identifier(spec.revenue_column), sql.Identifier("analytics", spec.name)
                )
            )
            for spec in REVENUE_VIEWS
        }

    def failed_checks(self) -> list[str]:
        failed = []
        for spec in REVENUE_VIEWS:
            columns = [name for name, _ in view_columns(self.conn, spec.name)]
            for result in run_checks(self.conn, spec, view_asset_key(spec.name), columns):
                if not result.passed:
                    failed.append(f"{spec.name}.{result.check_name}")
        return failed


@pytest.fixture
def shop(scratch_database_url: str) -> Iterator[Shop]:
    stock_shop(scratch_database_url, orders=300, seed=5)
    shop = Shop(scratch_database_url)
    yield shop
    shop.conn.close()


# stock defect -> the flag its sale gets, and whether the purchase price (so profit) is known
STOCK_DEFECTS = {
    "bad_quantity": ({"quantity": -1}, "stock_invalid_quantity", False),
    "negative_price": (
        {"purchase_price": Decimal("-5.00")},
        "stock_negative_purchase_price",
        False,
    ),
    "missing_price": ({"purchase_price": None}, "stock_missing_purchase_price", False),
    "unknown_status": ({"status": "in transit"}, "stock_unknown_stock_status", False),
    "missing_product": (
        {"product_id": uuid.uuid4(), "unchecked": True},
        "stock_product_not_found",
        True,
    ),
}


@pytest.mark.parametrize("defect", sorted(STOCK_DEFECTS))
def test_a_sale_of_a_defective_stock_item_counts_with_unknown_cost(shop: Shop, defect: str) -> None:
    columns, flag, cost_known = STOCK_DEFECTS[defect]
    before = shop.revenue_totals()
    order = shop.order(inventory_item_id=shop.stock(**columns))
    shop.refresh()

    fact = shop.fact(order)
    assert fact is not None, "the sale is missing from analytics.order_facts"
    assert fact["revenue"] == Decimal("250.00")
    assert shop.revenue_totals() == {name: total + 250 for name, total in before.items()}
    assert shop.issue(order) == (flag, "warning")
    if cost_known:  # 250 - 20 - 10 - 100
        assert (fact["profit"], fact["roi"]) == (Decimal("120.00"), Decimal("120.00"))
        assert fact["product_name"] == "Unknown"
    else:
        assert (fact["profit"], fact["roi"], fact["purchase_price"]) == (None, None, None)
    assert shop.failed_checks() == []


def test_a_sale_with_no_stock_item_or_a_missing_one_counts(shop: Shop) -> None:
    without = shop.order(inventory_item_id=None)
    dangling = shop.order(inventory_item_id=uuid.uuid4(), unchecked=True)
    shop.refresh()
    assert shop.issue(without) == ("no_stock_item", "warning")
    assert shop.issue(dangling) == ("stock_item_not_found", "warning")
    for order in (without, dangling):
        assert shop.fact(order)["revenue"] == Decimal("250.00")
        assert shop.fact(order)["profit"] is None
    assert shop.failed_checks() == []


def test_the_inventory_views_still_leave_the_defective_item_out(shop: Shop) -> None:
    item = shop.stock(quantity=-1)
    shop.order(inventory_item_id=item)
    shop.refresh()
    assert shop.issue(item) == ("invalid_quantity", "error")
    in_inventory = shop._one(
        "select count(*) from analytics.metabase_inventory_status where inventory_id = %s",
        (item,),
    )
    assert in_inventory == 0


def test_profit_of_a_flagged_sale_is_left_out_not_counted_as_full_proceeds(shop: Shop) -> None:
    before = shop._one("select sum(total_profit) from analytics.metabase_executive_metrics")
    shop.order(inventory_item_id=shop.stock(purchase_price=None))
    shop.order(inventory_item_id=shop.stock(purchase_price=Decimal("100.00")))
    shop.refresh()
    after = shop._one("select sum(total_profit) from analytics.metabase_executive_metrics")
    assert after - before == Decimal("120.00")  # only the sale whose cost is known


def test_an_order_sold_more_than_a_day_ahead_is_rejected_until_that_day(shop: Shop) -> None:
    tomorrow = shop.order(sold_at=shop._one("select now() + interval '20 hours'"))
    soon = shop._one("select now() + interval '1 day 3 seconds'")
    coming = shop.order(sold_at=soon)
    far = shop.order(sold_at=shop._one("select now() + interval '30 days'"))
    shop.refresh()
    assert shop.fact(tomorrow) is not None  # within a day: clocks and time zones differ
    assert shop.issue(coming) == ("future_sold_at", "error")
    assert shop.issue(far) == ("future_sold_at", "error")
    assert shop.fact(coming) is None

    while shop._one("select now() + interval '1 day' < %s", (soon,)):
        time.sleep(0.2)
    shop.refresh()  # nothing was written, yet the order has come due
    assert shop.fact(coming)["revenue"] == Decimal("250.00")
    assert shop.issue(coming) is None
    mode = shop._one(
        "select mode from soleflip_bi.refresh_log where view_name = 'order_facts' "
        "order by id desc limit 1"
    )
    assert mode == "incremental"
    assert shop.failed_checks() == []


NAMES = [
    # (country, city as written) -> the row the geography view shows
    ("DE", "München"),  # one each: the spelling in mixed case wins the tie
    ("DE", "MÜNCHEN"),
    ("de ", " münchen "),
    ("DE", "Köln"),
    ("DE", "Düsseldorf"),
    ("DE", "Frankfurt  am\tMain"),
    ("CH", "Zürich"),
    ("BR", "São Paulo"),
    ("IE", "O'Brien"),
    ("US", "McAllen"),
    ("US", "  "),
    ("US", None),
]
SHOWN = {
    ("DE", "München"): 3,
    ("DE", "Köln"): 1,
    ("DE", "Düsseldorf"): 1,
    ("DE", "Frankfurt am Main"): 1,
    ("CH", "Zürich"): 1,
    ("BR", "São Paulo"): 1,
    ("IE", "O'Brien"): 1,
    ("US", "McAllen"): 1,
    ("US", "Unknown"): 2,
}


def _geography(url: str) -> dict[tuple[str, str], int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select country, city, total_orders from analytics.metabase_customer_geography "
            "where country in ('DE', 'CH', 'BR', 'IE', 'US') "
            "and city in ('München', 'Köln', 'Düsseldorf', 'Frankfurt am Main', 'Zürich', "
            "'São Paulo', 'O''Brien', 'McAllen', 'Unknown')"
        ).fetchall()
    return {(country, city): int(n) for country, city, n in rows}


def _names_shop(url: str) -> None:
    """Only the named orders: the demo's own cities would add to the counts."""
    stock_shop(url, orders=1, seed=1, views=False)
    with psycopg.connect(url) as conn:
        conn.execute('delete from sales."order"')
    shop = Shop(url)
    for country, city in NAMES:
        shop.order(buyer_country=country, buyer_city=city)
    shop.conn.close()
    build_all_views(url)


def test_names_are_grouped_and_shown_as_people_wrote_them(scratch_database_url: str) -> None:
    _names_shop(scratch_database_url)
    assert _geography(scratch_database_url) == SHOWN


def test_a_database_with_the_c_locale_shows_the_same_rows(scratch_database_url: str) -> None:
    name = f"soleflip_c_locale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(scratch_database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "create database {} template template0 encoding 'UTF8' "
                "locale_provider libc lc_collate 'C' lc_ctype 'C'"
            ).format(sql.Identifier(name))
        )
    url = scratch_database_url.rsplit("/", 1)[0] + "/" + name
    try:
        with psycopg.connect(url) as conn:  # the C locale folds no letter beyond ASCII
            assert conn.execute("select lower('MÜNCHEN')").fetchone()[0] == "mÜnchen"
        _names_shop(url)
        assert _geography(url) == SHOWN
    finally:
        with psycopg.connect(scratch_database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))


def test_platform_reach_counts_a_city_once_however_it_is_spelled(
    scratch_database_url: str,
) -> None:
    _names_shop(scratch_database_url)
    with psycopg.connect(scratch_database_url) as conn:
        countries, cities = conn.execute(
            "select countries_served, cities_served from analytics.metabase_platform_performance"
        ).fetchone()
    assert (countries, cities) == (5, 8)


def test_every_valid_sale_of_a_20000_order_demo_is_in_the_facts(
    scratch_database_url: str,
) -> None:
    url = stock_shop(scratch_database_url, orders=20_000, seed=42)
    with psycopg.connect(url) as conn:
        missing = conn.execute(
            """
            select count(*) from sales."order" o
            where lower(btrim(o.status)) in ('completed', 'shipped', 'delivered', 'paid')
              and o.sold_at <= now() + interval '1 day'
              and o.gross_sale >= 0 and coalesce(o.platform_fee, 0) >= 0
              and coalesce(o.shipping_cost, 0) >= 0
              and upper(btrim(o.currency_code)) in ('EUR', 'USD', 'GBP', 'CHF')
              and not exists (select from analytics.order_facts f where f.order_id = o.id)
            """
        ).fetchone()[0]
        flagged = conn.execute(
            "select count(*) from analytics.source_quality_issues "
            "where severity = 'warning' and reason = 'stock_invalid_quantity'"
        ).fetchone()[0]
        future = conn.execute(
            'select count(*) from sales."order" o left join inventory.stock s '
            "on s.id = o.inventory_item_id "
            "where o.sold_at > now() or o.payout_date > now() or s.purchase_date > o.sold_at"
        ).fetchone()[0]
        accounting = stored_accounting(conn)
    assert missing == 0
    assert flagged > 0  # the demo has stock with a bad quantity, and its sales count
    assert future == 0
    assert accounting is not None and accounting.balanced
    assert accounting.sales + accounting.not_sales + accounting.rejected == 20_000


def test_reconciliation_fails_when_the_cleaned_layer_loses_a_sale(shop: Shop) -> None:
    """A sale lost between the sources and the views is found per platform."""
    spec = get_view("metabase_platform_performance")
    lost = shop._one(
        "select order_id from analytics.order_facts where platform_slug = 'goat' limit 1"
    )
    with shop.conn.transaction():
        shop.conn.execute("delete from analytics.order_facts where order_id = %s", (lost,))
        rebuild_rollups(shop.conn, FACTS)  # the loss reaches the cells the view reads
        shop.conn.execute("refresh materialized view analytics.metabase_platform_performance")
        columns = [name for name, _ in view_columns(shop.conn, spec.name)]
        results = {
            r.check_name: r for r in run_checks(shop.conn, spec, view_asset_key(spec.name), columns)
        }
    check = results["revenue_reconciles"]
    assert not check.passed
    (difference,) = check.metadata["differences"].data.values()
    assert difference["source_orders"] - difference["view_orders"] == 1


def test_reconciliation_fails_when_a_currency_is_converted_wrongly(shop: Shop) -> None:
    with shop.conn.transaction():
        shop.conn.execute(
            "update analytics.order_facts set revenue = revenue * 2 where currency_code = 'USD'"
        )
        rebuild_rollups(shop.conn, FACTS)
        shop.conn.execute("refresh materialized view analytics.sales_summary_daily")
        spec = get_view("sales_summary_daily")
        columns = [name for name, _ in view_columns(shop.conn, spec.name)]
        results = {
            r.check_name: r.passed
            for r in run_checks(shop.conn, spec, view_asset_key(spec.name), columns)
        }
    assert results["revenue_reconciles"] is False


def test_the_accounting_check_fails_when_an_order_is_nowhere(shop: Shop) -> None:
    with shop.conn.transaction():
        shop.conn.execute(
            "delete from analytics.order_facts where order_id = "
            "(select order_id from analytics.order_facts limit 1)"
        )
        recount_all(shop.conn)
        accounting = stored_accounting(shop.conn)
    assert not accounting.balanced
    assert accounting.valid_sales - accounting.sales == 1


def test_the_recount_kept_in_step_equals_one_from_scratch(shop: Shop) -> None:
    """Inserts, updates and deletes move the recount by the difference; judging every
    order again gives the same totals."""
    new = [shop.order(gross_sale=Decimal(n)) for n in (10, 20, 30)]
    shop.order(status="pending")
    with shop.conn.transaction():
        shop.conn.execute(
            "update sales.\"order\" set currency_code = 'usd' where id = %s", (new[0],)
        )
        shop.conn.execute("update sales.\"order\" set status = 'refunded' where id = %s", (new[1],))
        shop.conn.execute(
            'delete from sales."order" where id = '
            "(select id from sales.\"order\" where lower(btrim(status)) = 'completed' "
            "and id <> all(%s) order by id limit 1)",
            (new,),
        )
    shop.refresh()
    mode = shop._one(
        "select mode from soleflip_bi.refresh_log where view_name = 'order_facts' "
        "order by id desc limit 1"
    )
    assert mode == "incremental"
    kept = (stored_recount(shop.conn), stored_accounting(shop.conn))
    with shop.conn.transaction(force_rollback=True):
        recount_all(shop.conn)
        scratch = (stored_recount(shop.conn), stored_accounting(shop.conn))
    assert kept[0] == scratch[0]
    assert dataclasses.replace(kept[1], full_at=None) == dataclasses.replace(
        scratch[1], full_at=None
    )
    assert kept[1].balanced
    assert shop.failed_checks() == []
