"""Dirty input, redefinition under load, and failed refreshes."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from decimal import Decimal

import psycopg
import pytest

from soleflip_bi.cleaned.facts import refresh_order_facts
from soleflip_bi.cleaned.layer import quality_issue_counts
from soleflip_bi.views.materialize import (
    BUILD_SUFFIX,
    RefreshMode,
    materialize_view,
)
from soleflip_bi.views.registry import VIEWS, VIEWS_BY_NAME, ViewSpec, get_view
from soleflip_bi_tests.support.orders import insert_sale_orders
from soleflip_bi_tests.support.readers import reading_throughout
from soleflip_bi_tests.support.shop import stock_shop

EXEC = "metabase_executive_metrics"


@pytest.fixture
def small_shop(scratch_database_url: str) -> str:
    return stock_shop(scratch_database_url, orders=400, seed=5)


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
    # exactly the two good orders were added: 40 EUR + 108 USD sold on Sunday 2025-06-01,
    # at ECB's rate of Friday 2025-05-30 (1.1339 USD per euro)
    assert after_total - before_total == Decimal(40) + round(Decimal(108) / Decimal("1.1339"), 2)
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
    with (
        reading_throughout(small_shop, f"analytics.{EXEC}") as reading,
        psycopg.connect(small_shop) as conn,
    ):
        for _ in range(3):
            first = materialize_view(conn, changed)
            second = materialize_view(conn, spec)
    assert first.mode is RefreshMode.REBUILD and second.mode is RefreshMode.REBUILD
    assert reading.reads > 10
    assert reading.errors == []
    with psycopg.connect(small_shop) as conn:
        indexes = {
            r[0]
            for r in conn.execute("select indexname from pg_indexes where tablename = %s", (EXEC,))
        }
        assert {i.name for i in spec.indexes} <= indexes
        assert not any(name.endswith("__build") for name in indexes)


def _last_refresh(conn: psycopg.Connection, view: str) -> tuple:
    """The view's refresh marker: its newest refresh_log entry and the record of its build
    (the relation's oid and the definition hash)."""
    logged = conn.execute(
        "select id, mode, definition_hash, finished_at from soleflip_bi.refresh_log "
        "where view_name = %s order by id desc limit 1",
        (view,),
    ).fetchone()
    recorded = conn.execute(
        "select relation::regclass::text, definition_hash from soleflip_bi.view_definition "
        "where view_name = %s and relation = %s::regclass",
        (view, f"analytics.{view}"),
    ).fetchone()
    return logged, recorded


def _contents(conn: psycopg.Connection, view: str = EXEC) -> list[tuple]:
    return conn.execute(f"select * from analytics.{view} order by 1, 6").fetchall()


def test_failed_refresh_leaves_previous_contents_readable(small_shop: str) -> None:
    """A refresh that runs into its statement timeout (here: blocked by a lock another
    session holds on the view) is cancelled in the middle of REFRESH; the view keeps its
    previous rows, readable throughout, and its refresh marker does not move."""
    with psycopg.connect(small_shop) as conn:
        before = _contents(conn)
        marker_before = _last_refresh(conn, EXEC)
        insert_sale_orders(conn, 1, gross=999)
        conn.commit()
        refresh_order_facts(conn)  # the facts hold the new sale: the view has work to do
    # The marker is the shop's build: a logged create with the current definition.
    logged, recorded = marker_before
    assert (logged[1], logged[2]) == (RefreshMode.CREATE.value, get_view(EXEC).definition_hash)
    assert recorded == (f"analytics.{EXEC}", get_view(EXEC).definition_hash)

    seen: list[tuple[str, str | None]] = []
    reads_during: list[list[tuple]] = []
    with psycopg.connect(small_shop, autocommit=True) as blocker:
        blocker.execute("begin")
        # A lock no reader minds but any refresh waits for (materialized views take no
        # LOCK TABLE): an uncommitted COMMENT holds SHARE UPDATE EXCLUSIVE on the view.
        blocker.execute(f"comment on materialized view analytics.{EXEC} is 'held'")
        with psycopg.connect(small_shop) as refresher:
            pid = refresher.info.backend_pid
            refresher.execute("set statement_timeout = '2s'")
            refresher.commit()
            stop = threading.Event()

            def watch() -> None:
                with psycopg.connect(small_shop, autocommit=True) as watcher:
                    while not stop.is_set():
                        row = watcher.execute(
                            "select query, wait_event_type from pg_stat_activity "
                            "where pid = %s and state = 'active'",
                            (pid,),
                        ).fetchone()
                        if row and row[1] == "Lock" and not seen:
                            seen.append(row)
                            reads_during.append(_contents(watcher))
                        time.sleep(0.02)

            thread = threading.Thread(target=watch)
            thread.start()
            try:
                with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
                    materialize_view(refresher, get_view(EXEC))
            finally:
                stop.set()
                thread.join()
        blocker.execute("rollback")

    # The statement that was cancelled was the refresh of this view, waiting for its lock.
    assert len(seen) == 1, seen
    query = seen[0][0].lower()
    assert query.startswith("refresh materialized view concurrently"), query
    assert EXEC in query
    assert reads_during == [before]  # readers kept reading the old rows meanwhile
    with psycopg.connect(small_shop) as conn:
        assert _contents(conn) == before
        assert _last_refresh(conn, EXEC) == marker_before


def test_a_rebuild_that_fails_keeps_the_old_view(small_shop: str, monkeypatch) -> None:
    """One view's new definition fails to build: that view keeps its rows and its stored
    definition, and every other view refreshes as usual in the same round."""
    broken_name = "sales_summary_daily"
    spec_sql = ViewSpec.sql

    def sql_breaking_one_view(self: ViewSpec) -> str:
        return "select 1/0 as sale_date" if self.name == broken_name else spec_sql.fget(self)

    with psycopg.connect(small_shop) as conn:
        before = {spec.name: _contents(conn, spec.name) for spec in VIEWS}
        markers = {spec.name: _last_refresh(conn, spec.name) for spec in VIEWS}
        [order_id] = insert_sale_orders(conn, 1, gross=999)
        conn.commit()
        refresh_order_facts(conn)

    monkeypatch.setattr(ViewSpec, "sql", property(sql_breaking_one_view))
    assert get_view(broken_name).definition_hash != markers[broken_name][0][2]
    unchanged_hashes = {
        spec.name for spec in VIEWS if spec.definition_hash == markers[spec.name][0][2]
    }
    assert unchanged_hashes == {spec.name for spec in VIEWS} - {broken_name}
    failures: dict[str, Exception] = {}
    modes: dict[str, RefreshMode] = {}
    for spec in VIEWS:
        with psycopg.connect(small_shop) as conn:
            try:
                modes[spec.name] = materialize_view(conn, spec).mode
            except psycopg.Error as exc:
                failures[spec.name] = exc
    monkeypatch.undo()

    assert list(failures) == [broken_name]
    assert isinstance(failures[broken_name], psycopg.errors.DivisionByZero)
    assert RefreshMode.REBUILD not in modes.values()  # the others kept their definitions
    with psycopg.connect(small_shop) as conn:
        assert _contents(conn, broken_name) == before[broken_name]
        logged, recorded = _last_refresh(conn, broken_name)
        assert (logged, recorded) == markers[broken_name]
        assert recorded[1] == get_view(broken_name).definition_hash
        assert not conn.execute(
            "select to_regclass(%s)", (f"analytics.{broken_name}{BUILD_SUFFIX}",)
        ).fetchone()[0]
        for spec in VIEWS:
            if spec.name == broken_name:
                continue
            logged, recorded = _last_refresh(conn, spec.name)
            assert recorded == markers[spec.name][1], spec.name
            if modes[spec.name] is RefreshMode.SKIPPED:  # it does not read the orders
                assert logged == markers[spec.name][0], spec.name
            else:
                assert logged[0] > markers[spec.name][0][0], spec.name
        # the new sale reached the revenue of every view but the broken one
        new_total = _total(conn, EXEC)
        for spec in VIEWS:
            if spec.revenue_column and spec.name != broken_name:
                assert _total(conn, spec.name, spec.revenue_column) == new_total, spec.name
        [in_facts] = conn.execute(
            "select count(*) from analytics.order_facts where order_id = %s", (order_id,)
        ).fetchone()
        assert in_facts == 1
        assert new_total - _total(conn, broken_name) == 999
