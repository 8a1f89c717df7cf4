"""Writing orders the way the shop's applications do: committed, through the triggers."""

from __future__ import annotations

import uuid

import psycopg

INSERT_SALE = (
    'insert into sales."order" (id, status, currency_code, gross_sale, sold_at, '
    "buyer_country, buyer_city) values (%s, 'completed', 'EUR', %s, now(), 'DE', 'Berlin')"
)


def add_sale_orders(url: str, count: int = 1, gross: int = 100) -> list[str]:
    """Commit ``count`` completed EUR orders sold now, in one transaction; return their ids."""
    with psycopg.connect(url) as conn:
        return insert_sale_orders(conn, count, gross)


def insert_sale_orders(conn: psycopg.Connection, count: int = 1, gross: int = 100) -> list[str]:
    """Insert the orders on ``conn`` (the caller commits); return their ids."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with conn.cursor() as cur:
        cur.executemany(INSERT_SALE, [(order_id, gross) for order_id in ids])
    return ids


def orders_in_view(url: str, view: str = "metabase_executive_metrics") -> int:
    """The sales a view counts, as its dashboard card sums them."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            f"select coalesce(sum(total_orders), 0)::int from analytics.{view}"
        ).fetchone()[0]
