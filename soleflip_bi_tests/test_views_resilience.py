"""Dirty input, redefinition under load, and failed refreshes."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import psycopg
import pytest

from soleflip_bi.cleaned.facts import refresh_order_facts
from soleflip_bi.cleaned.layer import quality_issue_counts
from soleflip_bi.sources.demo import load_demo
from soleflip_bi.views.materialize import RefreshMode, materialize_view
from soleflip_bi.views.registry import VIEWS_BY_NAME, get_view
from soleflip_bi_tests.views_support import build_all_views

EXEC = "metabase_executive_metrics"


@pytest.fixture
def small_shop(scratch_database_url: str) -> str:
    with psycopg.connect(scratch_database_url) as conn:
        load_demo(conn, orders=400, seed=5)
    build_all_views(scratch_database_url)
    return scratch_database_url


def _total(conn: psycopg.Connection, view: str = EXEC, column: str = "total_revenue"):
    return conn.execute(f"select coalesce(sum({column}), 0) from analytics.{view}").fetchone()[0]


def _insert_order(conn: psycopg.Connection, **values: object) -> str:
    row = {
        "id": str(uuid.uuid4()),
        "status": "completed",
        "currency_code": "EUR",
        "gross_sale": 100,
        "platform_fee": 10,
        "shipping_cost": 5,
        "sold_at": "2025-06-01 12:00+00",
        "buyer_country": "DE",
        "buyer_city": "Berlin",
        **values,
    }
    columns = ", ".join(f'"{c}"' for c in row)
    placeholders = ", ".join(["%s"] * len(row))
    conn.execute(
        f'insert into sales."order" ({columns}) values ({placeholders})', list(row.values())
    )
    return row["id"]


def test_dirty_rows_are_excluded_counted_and_named(small_shop: str) -> None:
    with psycopg.connect(small_shop) as conn:
        before_total = _total(conn)
        before_issues = quality_issue_counts(conn)
        stock_id = conn.execute(
            "select id from inventory.stock where lower(status) = 'available' limit 1"
        ).fetchone()[0]
        bad = {
            "unknown_status": _insert_order(conn, status="ON_HOLD??"),
            "missing_sold_at": _insert_order(conn, sold_at=None),
            "missing_amount": _insert_order(conn, gross_sale=None),
            "negative_amount": _insert_order(conn, gross_sale=-50),
            "unknown_currency": _insert_order(conn, currency_code="XXX"),
        }
        good = [
            _insert_order(
                conn,
                status="  COMPLETED ",
                platform_fee=None,
                shipping_cost=None,
                buyer_city=None,
                buyer_country=None,
                gross_sale=40,
            ),
            _insert_order(
                conn,
                status="Shipped",
                currency_code="usd",
                gross_sale=108,
                inventory_item_id=stock_id,
                buyer_city="münchen ",
                platform_id=None,
            ),
        ]
        # stock with a broken quantity and an unknown status, plus one without supplier
        conn.execute(
            "insert into inventory.stock (id, product_id, quantity, status) "
            "select gen_random_uuid(), id, -3, 'available' from catalog.product limit 1"
        )
        conn.execute(
            "insert into inventory.stock (id, product_id, quantity, status, supplier_id) "
            "select gen_random_uuid(), id, 1, 'teleported', null from catalog.product limit 1"
        )
        conn.commit()

    with psycopg.connect(small_shop) as conn:
        refresh_order_facts(conn)
    for spec in VIEWS_BY_NAME.values():  # every refresh succeeds
        with psycopg.connect(small_shop) as conn:
            materialize_view(conn, spec)

    with psycopg.connect(small_shop) as conn:
        after_total = _total(conn)
        issues = quality_issue_counts(conn)
        ids = {
            str(r[0]): r[1]
            for r in conn.execute(
                "select row_id, reason from analytics.source_quality_issues "
                "where severity = 'error'"
            )
        }
        revenue_views = {
            _total(conn, v.name, v.revenue_column)
            for v in VIEWS_BY_NAME.values()
            if v.revenue_column
        }
    # exactly the two good orders were added: 40 EUR + 108 USD at the fixed rate
    assert after_total - before_total == pytest.approx(40 + 100.00, abs=0.01)
    assert revenue_views == {after_total}
    for reason, order_id in bad.items():
        assert ids[order_id] == reason
        key = ("sales.order", reason, "error")
        assert issues[key] == before_issues.get(key, 0) + 1
    for reason in ("invalid_quantity", "unknown_stock_status"):
        key = ("inventory.stock", reason, "error")
        assert issues[key] == before_issues.get(key, 0) + 1
    assert not set(good) & set(ids)  # sales: at most flagged, never rejected


def test_redefinition_swaps_while_a_reader_keeps_reading(small_shop: str) -> None:
    spec = get_view(EXEC)
    changed = dataclasses.replace(
        spec, indexes=(*spec.indexes, dataclasses.replace(spec.indexes[1], name="idx_exec_extra"))
    )
    errors: list[Exception] = []
    reads = 0
    stop = threading.Event()

    def reader() -> None:
        nonlocal reads
        with psycopg.connect(small_shop, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    count = conn.execute(f"select count(*) from analytics.{EXEC}").fetchone()[0]
                    assert count > 0
                    reads += 1
                except Exception as exc:  # any error is a failure of the swap
                    errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        time.sleep(0.2)
        with psycopg.connect(small_shop) as conn:
            for _ in range(3):
                first = materialize_view(conn, changed)
                second = materialize_view(conn, spec)
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join()
    assert first.mode is RefreshMode.REBUILD and second.mode is RefreshMode.REBUILD
    assert reads > 10
    assert errors == []
    with psycopg.connect(small_shop) as conn:
        indexes = {
            r[0]
            for r in conn.execute("select indexname from pg_indexes where tablename = %s", (EXEC,))
        }
        assert {i.name for i in spec.indexes} <= indexes
        assert not any(name.endswith("__build") for name in indexes)


def test_failed_refresh_leaves_previous_contents_readable(small_shop: str) -> None:
    with psycopg.connect(small_shop) as conn:
        before = conn.execute(f"select * from analytics.{EXEC} order by 1, 6").fetchall()
        _insert_order(conn, gross_sale=999)
        conn.commit()
        conn.execute("set statement_timeout = 1")
        with pytest.raises(psycopg.errors.QueryCanceled):
            materialize_view(conn, dataclasses.replace(get_view(EXEC)))
    with psycopg.connect(small_shop) as conn:
        after = conn.execute(f"select * from analytics.{EXEC} order by 1, 6").fetchall()
    assert after == before


def test_a_rebuild_that_fails_keeps_the_old_view(small_shop: str, monkeypatch) -> None:
    spec = get_view("sales_summary_daily")
    broken = dataclasses.replace(spec, name=spec.name)
    monkeypatch.setattr(type(broken), "sql", property(lambda self: "select 1/0 as sale_date"))
    with psycopg.connect(small_shop) as conn:
        before = conn.execute(
            "select sum(total_revenue) from analytics.sales_summary_daily"
        ).fetchone()
        with pytest.raises(psycopg.errors.DivisionByZero):
            materialize_view(conn, broken)
    monkeypatch.undo()
    with psycopg.connect(small_shop) as conn:
        after = conn.execute(
            "select sum(total_revenue) from analytics.sales_summary_daily"
        ).fetchone()
        comment = conn.execute(
            "select obj_description('analytics.sales_summary_daily'::regclass)"
        ).fetchone()[0]
    assert after == before
    assert comment.endswith(spec.definition_hash)
