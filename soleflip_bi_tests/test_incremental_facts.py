"""Incremental maintenance of the stored order and stock facts equals a full rebuild."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from soleflip_bi.cleaned.facts import FactsMode, refresh_order_facts
from soleflip_bi.cleaned.layer import apply_cleaned_layer
from soleflip_bi.views.materialize import materialize_view, qualified
from soleflip_bi.views.registry import VIEWS
from soleflip_bi_tests.support.shop import stock_shop

DIFFERENCE = """
select (select count(*) from (select * from analytics.order_facts
                              except all select * from analytics.order_facts_live) a)
     + (select count(*) from (select * from analytics.order_facts_live
                              except all select * from analytics.order_facts) b)
     + (select count(*) from (select * from analytics.stock_facts
                              except all select * from analytics.stock_facts_live) c)
     + (select count(*) from (select * from analytics.stock_facts_live
                              except all select * from analytics.stock_facts) d)
"""


@pytest.fixture
def shop(scratch_database_url: str) -> str:
    stock_shop(scratch_database_url, orders=3000, seed=21, views=False)
    with psycopg.connect(scratch_database_url) as conn:
        apply_cleaned_layer(conn)
        assert refresh_order_facts(conn).mode is FactsMode.REBUILD
    return scratch_database_url


def _difference(conn: psycopg.Connection) -> int:
    return conn.execute(DIFFERENCE).fetchone()[0]


def test_every_kind_of_row_change_is_maintained_incrementally(shop: str) -> None:
    with psycopg.connect(shop) as conn:
        assert refresh_order_facts(conn).mode is FactsMode.SKIPPED
        conn.execute(
            'insert into sales."order" (id, status, currency_code, gross_sale, sold_at, '
            "inventory_item_id) select gen_random_uuid(), 'completed', 'USD', 80 + n, now(), "
            "(select id from inventory.stock order by id offset n limit 1) "
            "from generate_series(1, 20) n"
        )
        conn.execute(
            'update sales."order" set gross_sale = gross_sale + 1 where id in '
            '(select id from sales."order" order by id limit 15)'
        )
        conn.execute(
            "update sales.\"order\" set status = 'cancelled' where id in "
            '(select id from sales."order" order by id desc limit 5)'
        )
        conn.execute(
            'delete from sales."order" where id in '
            '(select id from sales."order" order by gross_sale limit 4)'
        )
        conn.execute(  # a stock item's price moves the profit of the orders that sold it
            "update inventory.stock set purchase_price = purchase_price * 2 where id in "
            '(select inventory_item_id from sales."order" where inventory_item_id is not null '
            "order by id limit 10)"
        )
        conn.execute(  # new stock, stock gone bad, stock sold
            "insert into inventory.stock (id, product_id, quantity, status, purchase_price) "
            "select gen_random_uuid(), id, 1, 'available', 90 from catalog.product limit 3"
        )
        conn.execute(
            "update inventory.stock set quantity = -1 where id = "
            "(select id from inventory.stock where status = 'available' order by id limit 1)"
        )
        conn.execute(
            "update inventory.stock set status = 'sold' where id in "
            "(select id from inventory.stock where status = 'available' order by id desc limit 2)"
        )
        conn.execute(  # an order moved to another stock item
            'update sales."order" set inventory_item_id = (select id from inventory.stock '
            'order by id desc limit 1) where id = (select id from sales."order" '
            "where inventory_item_id is not null order by id limit 1)"
        )
        conn.commit()
        assert _difference(conn) > 0  # the stored facts are stale now
        assert refresh_order_facts(conn).mode is FactsMode.INCREMENTAL
        assert _difference(conn) == 0


def test_dimension_changes_and_bulk_changes_rebuild(shop: str) -> None:
    with psycopg.connect(shop) as conn:
        conn.execute("update catalog.brand set name = name || ' (renamed)' where name = 'Nike'")
        conn.commit()
        assert refresh_order_facts(conn).mode is FactsMode.REBUILD
        assert _difference(conn) == 0
        conn.execute('update sales."order" set shipping_cost = coalesce(shipping_cost, 0) + 1')
        conn.commit()
        assert refresh_order_facts(conn).mode is FactsMode.REBUILD  # everything touched
        assert _difference(conn) == 0


def test_views_after_incremental_facts_equal_a_full_rebuild(shop: str) -> None:
    with psycopg.connect(shop) as conn:
        for spec in VIEWS:
            materialize_view(conn, spec)
        conn.execute(
            'update sales."order" set gross_sale = gross_sale * 1.5 where id in '
            '(select id from sales."order" order by id limit 40)'
        )
        conn.commit()
        assert refresh_order_facts(conn).mode is FactsMode.INCREMENTAL
        for spec in VIEWS:
            materialize_view(conn, spec)
            # compare with the view's query computed from scratch (volatile day columns aside)
            fresh = f"select * from ({spec.sql.strip().rstrip(';')}) fresh"
            stored = conn.execute(
                sql.SQL(
                    "select count(*) from (({} except all select * from {}) "
                    "union all (select * from {} except all {})) d"
                ).format(
                    sql.SQL(fresh),
                    qualified(spec.name),
                    qualified(spec.name),
                    sql.SQL(fresh),
                )
            ).fetchone()[0]
            assert stored == 0, spec.name
