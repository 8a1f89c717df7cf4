"""The measurements of one benchmark size, each against a real database."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from soleflip_bi.capture.install import STATEMENT_TRIGGER
from soleflip_bi.cleaned.facts import refresh_order_facts
from soleflip_bi.dashboards.render import render_card
from soleflip_bi.dashboards.templates import DASHBOARDS
from soleflip_bi.database.tuning import apply_refresh_settings
from soleflip_bi.shared.catalogue import Source
from soleflip_bi.views.materialize import drop_view, materialize_view, qualified
from soleflip_bi.views.registry import VIEWS, views_refreshed_on

NEW_ORDERS = 1000
# What an order insert fires: the statement log (sensors) and the row-id log (facts).
CHANGE_CAPTURE_INSERT_TRIGGERS = (STATEMENT_TRIGGER, "soleflip_bi_rows_inserted")
INSERT_ORDERS = """
insert into sales."order" (id, status, currency_code, gross_sale, platform_fee, shipping_cost,
                           inventory_item_id, platform_id, sold_at, buyer_country, buyer_city)
select gen_random_uuid(), 'completed', 'EUR', 100 + n %% 200, 10, 7,
       (select id from inventory.stock offset (n * 7919) %% %(stock)s limit 1),
       (select id from platform.marketplace order by id limit 1 offset n %% 5),
       now() - make_interval(days => n %% 30), 'DE', 'Berlin'
from generate_series(1, %(n)s) as n
"""


@dataclass
class ViewFigures:
    create: float = 0.0
    plain: float = 0.0
    concurrent_unchanged: float = 0.0
    project_unchanged: float = 0.0
    project_unchanged_mode: str = ""
    concurrent_after_orders: float = 0.0
    project_after_orders: float = 0.0
    project_after_orders_mode: str = ""
    size_bytes: int = 0
    rows: int = 0


@dataclass
class SizeFigures:
    orders: int
    load_seconds: float = 0.0
    facts_rebuild: float = 0.0
    facts_after_orders: float = 0.0
    views: dict[str, ViewFigures] = field(default_factory=dict)
    cards: dict[str, tuple[float, float]] = field(default_factory=dict)
    orders_sensor_pg_seconds: float = 0.0
    end_to_end: list[float] = field(default_factory=list)
    write_cost_us: float | None = None


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def refresh_statement(conn: psycopg.Connection, name: str, concurrently: bool) -> float:
    keyword = sql.SQL("concurrently ") if concurrently else sql.SQL("")
    statement = sql.SQL("refresh materialized view {}{}").format(keyword, qualified(name))

    def run() -> None:
        with conn.transaction():
            apply_refresh_settings(conn)
            conn.execute(statement)

    return timed(run)


def measure_views(conn: psycopg.Connection, figures: SizeFigures) -> None:
    figures.facts_rebuild = timed(lambda: refresh_order_facts(conn, force=True))
    for spec in VIEWS:
        drop_view(conn, spec)
        view = figures.views[spec.name] = ViewFigures()
        view.create = materialize_view(conn, spec).seconds
        view.plain = refresh_statement(conn, spec.name, concurrently=False)
        view.concurrent_unchanged = refresh_statement(conn, spec.name, concurrently=True)
        result = materialize_view(conn, spec)
        view.project_unchanged, view.project_unchanged_mode = result.seconds, result.mode.value
        view.rows = result.row_count
        view.size_bytes = result.size_bytes

    stock = conn.execute("select count(*) from inventory.stock").fetchone()[0]
    with conn.transaction():
        conn.execute(INSERT_ORDERS, {"n": NEW_ORDERS, "stock": stock})
    figures.facts_after_orders = timed(lambda: refresh_order_facts(conn))
    for spec in VIEWS:
        view = figures.views[spec.name]
        view.concurrent_after_orders = refresh_statement(conn, spec.name, concurrently=True)
    # What the project does after the same 1,000 orders (facts rebuilt once, above).
    with conn.transaction():
        conn.execute(INSERT_ORDERS, {"n": NEW_ORDERS, "stock": stock})
    sensor_views = {v.name for v in views_refreshed_on(Source.ORDERS)}
    facts = timed(lambda: refresh_order_facts(conn))
    figures.orders_sensor_pg_seconds = facts
    for spec in VIEWS:
        result = materialize_view(conn, spec)
        view = figures.views[spec.name]
        view.project_after_orders = result.seconds
        view.project_after_orders_mode = result.mode.value
        if spec.name in sensor_views:
            figures.orders_sensor_pg_seconds += result.seconds


def measure_cards(conn: psycopg.Connection, figures: SizeFigures, samples: int) -> None:
    for dashboard in DASHBOARDS:
        for card in dashboard.cards:
            statement = render_card(dashboard, card)
            conn.execute(statement).fetchall()  # warm
            times = []
            for _ in range(samples):
                started = time.perf_counter()
                conn.execute(statement).fetchall()
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            figures.cards[dashboard.card_key(card)] = (statistics.median(times), p95)


def measure_write_cost(conn: psycopg.Connection, figures: SizeFigures, writes: int = 3000) -> None:
    """Per-statement cost of change capture: single-row order inserts with and without it.

    Rounds alternate (with, without, with, ...) and the medians are compared, so drift of
    the machine affects both sides alike.
    """

    def insert_many() -> float:
        with conn.transaction():
            started = time.perf_counter()
            for _ in range(writes):
                conn.execute(
                    'insert into sales."order" (id, status, currency_code, gross_sale, sold_at) '
                    "values (gen_random_uuid(), 'pending', 'EUR', 1, now())"
                )
            elapsed = time.perf_counter() - started
        return elapsed

    def toggle(enabled: bool) -> None:
        action = sql.SQL("enable" if enabled else "disable")
        for trigger in CHANGE_CAPTURE_INSERT_TRIGGERS:
            conn.execute(
                sql.SQL('alter table sales."order" {} trigger {}').format(
                    action, sql.Identifier(trigger)
                )
            )
        conn.commit()

    with_capture, without = [], []
    for _ in range(5):
        with_capture.append(insert_many())
        toggle(False)
        without.append(insert_many())
        toggle(True)
    conn.execute("delete from sales.\"order\" where status = 'pending' and gross_sale = 1")
    conn.commit()
    difference = statistics.median(with_capture) - statistics.median(without)
    figures.write_cost_us = difference / writes * 1e6
