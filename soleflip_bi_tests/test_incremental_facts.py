"""Incremental maintenance of the stored facts and their rollups equals a full rebuild,
and every view equals the straightforward SQL over the live facts."""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from soleflip_bi.cleaned.facts import FactsMode, refresh_order_facts
from soleflip_bi.cleaned.layer import apply_cleaned_layer
from soleflip_bi.cleaned.recount import stored_accounting
from soleflip_bi.cleaned.rollups import ROLLUPS
from soleflip_bi.definitions import defs
from soleflip_bi.views.materialize import materialize_view
from soleflip_bi.views.registry import VIEWS
from soleflip_bi_tests.benchmarks.reference import (
    create_reference,
    differences,
    refresh_reference,
)
from soleflip_bi_tests.support.orders import add_sale_orders
from soleflip_bi_tests.support.shop import stock_shop

STORED_AND_LIVE = (
    ("order_facts", sql.SQL("select * from analytics.order_facts_live")),
    ("stock_facts", sql.SQL("select * from analytics.stock_facts_live")),
    ("stock_with_sales", sql.SQL("select * from analytics.stock_with_sales_live")),
    *((rollup.name, rollup.over_all()) for rollup in ROLLUPS),
)


@pytest.fixture
def shop(scratch_database_url: str) -> str:
    stock_shop(scratch_database_url, orders=3000, seed=21, views=False)
    with psycopg.connect(scratch_database_url) as conn:
        apply_cleaned_layer(conn)
        assert refresh_order_facts(conn).mode is FactsMode.REBUILD
    return scratch_database_url


def _differences(conn: psycopg.Connection) -> dict[str, int]:
    """Rows that differ between each stored table and what it stands for, computed now."""
    found = {}
    for table, query in STORED_AND_LIVE:
        stored = sql.SQL("select * from {}").format(sql.Identifier("analytics", table))
        found[table] = conn.execute(
            sql.SQL(
                "select (select count(*) from (({a}) except all ({b})) x)"
                " + (select count(*) from (({b}) except all ({a})) y)"
            ).format(a=stored, b=query)
        ).fetchone()[0]
    return {table: n for table, n in found.items() if n}


def _difference(conn: psycopg.Connection) -> int:
    return sum(_differences(conn).values())


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
        assert _differences(conn) == {}


def test_new_orders_merge_into_their_cells_and_a_cell_emptied_is_removed(shop: str) -> None:
    with psycopg.connect(shop) as conn:
        before = conn.execute("select count(*) from analytics.sales_by_day_platform").fetchone()
        conn.execute(  # new orders on a new day: a cell of their own; others merge
            'insert into sales."order" (id, status, currency_code, gross_sale, platform_fee, '
            "sold_at, inventory_item_id, platform_id) select gen_random_uuid(), 'completed', "
            "'EUR', 50 + n, case when n % 2 = 0 then 3 end, "
            "case when n = 1 then now() - interval '4000 days' else now() - interval '1 day' end, "
            "(select id from inventory.stock order by id offset n limit 1), "
            "(select id from platform.marketplace order by id limit 1) "
            "from generate_series(1, 12) n"
        )
        conn.commit()
        assert refresh_order_facts(conn).mode is FactsMode.INCREMENTAL
        assert _differences(conn) == {}
        cells = conn.execute("select count(*) from analytics.sales_by_day_platform").fetchone()
        assert cells[0] == before[0] + 1  # the day 4,000 days ago had no sale
        conn.execute("delete from sales.\"order\" where sold_at < now() - interval '3999 days'")
        conn.commit()
        assert refresh_order_facts(conn).mode is FactsMode.INCREMENTAL
        assert _differences(conn) == {}
        cells = conn.execute("select count(*) from analytics.sales_by_day_platform").fetchone()
        assert cells == before


def test_dimension_changes_and_bulk_changes_rebuild(shop: str) -> None:
    with psycopg.connect(shop) as conn:
        conn.execute("update catalog.brand set name = name || ' (renamed)' where name = 'Nike'")
        conn.commit()
        assert refresh_order_facts(conn).mode is FactsMode.REBUILD
        assert _differences(conn) == {}
        conn.execute('update sales."order" set shipping_cost = coalesce(shipping_cost, 0) + 1')
        conn.commit()
        assert refresh_order_facts(conn).mode is FactsMode.REBUILD  # everything touched
        assert _differences(conn) == {}


def test_views_after_incremental_facts_equal_the_straightforward_sql(shop: str) -> None:
    """After incremental maintenance (orders changed, a stock price) and after a rebuild (a
    product renamed, a category deleted), every view holds exactly the rows of the
    benchmark's reference implementation: the views written the obvious way over the live
    facts, nothing stored in between."""
    with psycopg.connect(shop) as conn:
        for spec in VIEWS:
            materialize_view(conn, spec)
        conn.execute(
            'update sales."order" set gross_sale = gross_sale * 1.5 where id in '
            '(select id from sales."order" order by id limit 40)'
        )
        conn.execute(
            "update inventory.stock set purchase_price = purchase_price + 7 where id in "
            '(select inventory_item_id from sales."order" order by id desc limit 30)'
        )
        conn.commit()
        assert refresh_order_facts(conn).mode is FactsMode.INCREMENTAL
        for spec in VIEWS:
            materialize_view(conn, spec)
        create_reference(conn)
        assert {spec.name: differences(conn, spec) for spec in VIEWS} == dict.fromkeys(
            (spec.name for spec in VIEWS), 0
        )
        conn.execute(
            "update catalog.product set name = name || ' v2' where id = "
            "(select product_id from analytics.order_facts limit 1)"
        )
        # a dimension row deleted: its products fall back to the Unknown category
        gone = conn.execute(
            "select category_id from analytics.order_facts where category_name <> 'Unknown' "
            "group by 1 order by count(*) limit 1"
        ).fetchone()[0]
        conn.execute(
            "update catalog.product set category_id = null where category_id = %s", (gone,)
        )
        conn.execute("delete from catalog.category where id = %s", (gone,))
        conn.commit()
        assert refresh_order_facts(conn).mode is FactsMode.REBUILD
        for spec in VIEWS:
            materialize_view(conn, spec)
            refresh_reference(conn, spec, concurrently=False)
        assert {spec.name: differences(conn, spec) for spec in VIEWS} == dict.fromkeys(
            (spec.name for spec in VIEWS), 0
        )
        names = conn.execute(
            "select count(*) from analytics.metabase_product_performance where product_name "
            "like '%% v2'"
        ).fetchone()[0]
        assert names == 1
        left = conn.execute(
            "select count(*) from analytics.metabase_inventory_overview where category_id = %s",
            (gone,),
        ).fetchone()[0]
        assert left == 0


def _recounted_at(conn: psycopg.Connection) -> object:
    return conn.execute("select full_at from soleflip_bi.order_accounting").fetchone()[0]


def _age_recount(conn: psycopg.Connection, hours: int) -> object:
    conn.execute(
        "update soleflip_bi.order_accounting set full_at = now() - make_interval(hours => %s)",
        (hours,),
    )
    conn.commit()
    return _recounted_at(conn)


def test_sensor_runs_leave_the_full_recount_to_the_daily_run(shop: str) -> None:
    with psycopg.connect(shop) as conn:
        aged = _age_recount(conn, 25)  # yesterday's daily run
        add_sale_orders(shop, count=3)
        assert refresh_order_facts(conn).mode is FactsMode.INCREMENTAL
        assert _recounted_at(conn) == aged  # moved by the difference only
        assert stored_accounting(conn).balanced

        assert refresh_order_facts(conn, recount=True).mode is FactsMode.SKIPPED
        assert _recounted_at(conn) > aged  # the daily run recounts even with no change

        aged = _age_recount(conn, 27)  # the daily run did not run
        add_sale_orders(shop, count=1)
        assert refresh_order_facts(conn).mode is FactsMode.INCREMENTAL
        assert _recounted_at(conn) > aged
        assert stored_accounting(conn).balanced


def test_the_daily_job_recounts_and_the_source_change_job_does_not(
    shop: str, use_database, instance: dg.DagsterInstance
) -> None:
    use_database(shop)
    with psycopg.connect(shop) as conn:
        aged = _age_recount(conn, 25)
        add_sale_orders(shop, count=2)
        assert (
            defs.resolve_job_def("refresh_on_source_change")
            .execute_in_process(instance=instance)
            .success
        )
        assert _recounted_at(conn) == aged
        conn.commit()
        assert defs.resolve_job_def("refresh_daily").execute_in_process(instance=instance).success
        assert _recounted_at(conn) > aged
