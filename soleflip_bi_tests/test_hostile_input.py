"""Hostile source rows: no refresh ever fails, and every row is accounted for.

Hypothesis writes stock items and orders (support/hostile_rows.py) into a database with demo
data the way an importer would, every view is refreshed with its asset checks, and then:

* the stored order facts equal the live definition (incremental maintenance kept up);
* every revenue-bearing view's total equals sum(revenue) of analytics.order_facts;
* every order is in exactly one place: the facts (a sale), source_quality_issues (rejected,
  with a reason) or a known non-sale status; every stock item in stock_facts or the issues;
* every asset check passes (stock bought in the future counts as 0 days old).

One database per test; each example's rows are deleted again before the next one.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.types.json import Jsonb

from soleflip_bi.cleaned.facts import refresh_order_facts
from soleflip_bi.cleaned.recount import stored_accounting
from soleflip_bi.views.assets import view_asset_key
from soleflip_bi.views.checks import run_checks
from soleflip_bi.views.materialize import materialize_view, view_columns
from soleflip_bi.views.registry import VIEWS, ViewSpec
from soleflip_bi_tests.support.figures import report
from soleflip_bi_tests.support.hostile_rows import order_rows, stock_rows
from soleflip_bi_tests.support.shop import stock_shop

JSON_COLUMNS = {"raw_data", "platform_specific_data"}


@dataclass(frozen=True)
class Pools:
    """The rows a drawn (kind, index) reference can point at."""

    ids: dict[str, list[str]]

    @classmethod
    def read(cls, conn: psycopg.Connection) -> Pools:
        queries = {
            "product": "select id from catalog.product order by id",
            "size": "select id from catalog.size_master order by id",
            "supplier": "select id from supplier.profile order by id",
            "platform": "select id from platform.marketplace order by id",
            "sold_stock": "select id from inventory.stock where status = 'sold' order by id",
            "available_stock": "select id from inventory.stock where status = 'available' "
            "order by id",
        }
        return cls({kind: [str(r[0]) for r in conn.execute(q)] for kind, q in queries.items()})

    def resolve(self, ref: tuple[str, int] | None, new_stock: list[str]) -> str | None:
        if ref is None:
            return None
        kind, index = ref
        pool = new_stock if kind == "new_stock" else self.ids[kind]
        return pool[index % len(pool)] if pool else None


@pytest.fixture
def shop(scratch_database_url: str) -> str:
    return stock_shop(scratch_database_url, orders=200, seed=13)


def _insert(conn: psycopg.Connection, table: sql.Identifier, row: dict[str, object]) -> None:
    values = [Jsonb(v) if k in JSON_COLUMNS and v is not None else v for k, v in row.items()]
    conn.execute(
        sql.SQL("insert into {} ({}) values ({})").format(
            table,
            sql.SQL(", ").join(sql.Identifier(column) for column in row),
            sql.SQL(", ").join(sql.Placeholder() * len(row)),
        ),
        values,
    )


def _write(
    conn: psycopg.Connection, pools: Pools, stock: list[dict], orders: list[dict]
) -> tuple[list[str], list[str]]:
    """Insert the drawn rows in one transaction, as an importer would; return their ids."""
    stock_ids, order_ids = [], []
    with conn.transaction():
        for drawn in stock:
            row = {"id": str(uuid.uuid4())}
            for column, value in drawn.items():
                row[column] = pools.resolve(value, []) if column.endswith("_id") else value
            _insert(conn, sql.Identifier("inventory", "stock"), row)
            stock_ids.append(row["id"])
        for drawn in orders:
            row = {"id": str(uuid.uuid4())}
            for column, value in drawn.items():
                row[column] = pools.resolve(value, stock_ids) if column.endswith("_id") else value
            if row["stockx_order_number"] is not None:  # unique: keep the hostile text, vary it
                row["stockx_order_number"] += f"~{uuid.uuid4().hex[:6]}"
            _insert(conn, sql.Identifier("sales", "order"), row)
            order_ids.append(row["id"])
    return stock_ids, order_ids


def _remove(conn: psycopg.Connection, stock_ids: list[str], order_ids: list[str]) -> None:
    with conn.transaction():
        conn.execute('delete from sales."order" where id = any(%s::uuid[])', (order_ids,))
        conn.execute("delete from inventory.stock where id = any(%s::uuid[])", (stock_ids,))


def _refresh_with_checks(conn: psycopg.Connection, spec: ViewSpec) -> list:
    key = view_asset_key(spec.name)
    result = materialize_view(
        conn,
        spec,
        inspect=lambda c: run_checks(c, spec, key, [n for n, _t in view_columns(c, spec.name)]),
    )
    return list(result.inspection or [])


def _one(conn: psycopg.Connection, query: str, params: tuple = ()) -> object:
    return conn.execute(query, params).fetchone()[0]


def _assert_accounted_for(
    conn: psycopg.Connection, stock_ids: list[str], order_ids: list[str], tried: Counter
) -> None:
    """Assert every row is in exactly one place, counting in ``tried`` what was looked at."""
    facts = Decimal(_one(conn, "select coalesce(sum(revenue), 0) from analytics.order_facts"))
    live = _one(conn, "select coalesce(sum(revenue), 0) from analytics.order_facts_live")
    assert facts == live, "stored facts differ from the definition"
    for spec in VIEWS:
        if spec.revenue_column:
            total = _one(
                conn,
                sql.SQL("select coalesce(sum({}), 0) from {}").format(
                    sql.Identifier(spec.revenue_column), sql.Identifier("analytics", spec.name)
                ),
            )
            assert total == facts, f"{spec.name} revenue {total} != order_facts {facts}"
    orders_in_daily = _one(
        conn, "select coalesce(sum(total_orders), 0) from analytics.sales_summary_daily"
    )
    assert orders_in_daily == _one(conn, "select count(*) from analytics.order_facts")

    places = conn.execute(
        """
        select o.id,
               (select count(*) from analytics.order_facts f where f.order_id = o.id)
             + (select count(*) from analytics.source_quality_issues q
                where q.source_table = 'sales.order' and q.row_id = o.id
                  and q.severity = 'error')
             + (select count(*) from analytics.order_status s
                where s.status = lower(btrim(o.status)) and not s.is_sale)
        from sales."order" o
        """
    ).fetchall()
    misplaced_orders = [order for order, count in places if count != 1]
    tried["orders_checked"] += len(places)
    tried["rows_unaccounted"] += len(misplaced_orders)
    assert misplaced_orders == []
    accounting = stored_accounting(conn)
    assert accounting is not None and accounting.balanced, accounting
    assert {str(order) for order, _ in places} >= set(order_ids)

    stock_places = conn.execute(
        """
        select s.id,
               (select count(*) from analytics.stock_facts f where f.inventory_id = s.id)
             + (select count(*) from analytics.source_quality_issues q
                where q.source_table = 'inventory.stock' and q.row_id = s.id),
               (select count(*) from analytics.metabase_inventory_status v
                where v.inventory_id = s.id)
        from inventory.stock s where s.id = any(%s::uuid[])
        """,
        (stock_ids,),
    ).fetchall()
    misplaced_stock = [s for s, places, _ in stock_places if places != 1]
    tried["stock_items_checked"] += len(stock_places)
    tried["rows_unaccounted"] += len(misplaced_stock) + len(stock_ids) - len(stock_places)
    assert len(stock_places) == len(stock_ids)
    assert misplaced_stock == []


def test_hostile_rows_never_fail_a_refresh_and_every_row_is_accounted_for(
    shop: str, capsys
) -> None:
    tried: Counter = Counter()
    with psycopg.connect(shop) as conn:
        pools = Pools.read(conn)

        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(stock=st.lists(stock_rows(), max_size=5), orders=st.lists(order_rows(), max_size=8))
        def example(stock: list[dict], orders: list[dict]) -> None:
            stock_ids, order_ids = _write(conn, pools, stock, orders)
            try:
                refresh_order_facts(conn)
                for spec in VIEWS:
                    try:
                        checks = _refresh_with_checks(conn, spec)
                    except Exception:
                        tried["failed_refreshes"] += 1
                        raise
                    tried["refreshes"] += 1
                    failed = [check for check in checks if not check.passed]
                    tried["checks_evaluated"] += len(checks)
                    tried["checks_failed"] += len(failed)
                    assert failed == []
                _assert_accounted_for(conn, stock_ids, order_ids, tried)
            finally:
                conn.rollback()
                _remove(conn, stock_ids, order_ids)
            tried["examples"] += 1
            tried["orders"] += len(order_ids)
            tried["stock_items"] += len(stock_ids)

        example()
        rejected = Counter(
            dict(
                conn.execute(
                    "select reason, count(*) from analytics.source_quality_issues group by 1"
                ).fetchall()
            )
        )
    report(
        capsys,
        "hostile_source_rows",
        examples=tried["examples"],
        orders_inserted=tried["orders"],
        stock_items_inserted=tried["stock_items"],
        refreshes=tried["refreshes"],
        failed_refreshes=tried["failed_refreshes"],
        checks_evaluated=tried["checks_evaluated"],
        checks_failed=tried["checks_failed"],
        orders_checked=tried["orders_checked"],
        stock_items_checked=tried["stock_items_checked"],
        rows_unaccounted=tried["rows_unaccounted"],
        demo_rejections_by_reason=dict(rejected),
    )
