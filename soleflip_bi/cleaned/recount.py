"""The sales recounted from the sources, and where every source order went.

Both are taken inside the transaction that maintains the stored order facts, so they
describe exactly the orders the views are built from, however many orders arrive while
the views refresh. The recount (``recount/sales_by_platform.sql``) is written without
the cleaned layer's SQL: it is the yardstick the views' ``revenue_reconciles`` check
holds them against. The accounting (``recount/order_accounting.sql``) says whether every
source order is exactly one of a sale, an order that is not a sale, or a rejected row.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

import psycopg


def _read(name: str) -> str:
    return resources.files("soleflip_bi.cleaned").joinpath("recount", name).read_text()


@dataclass(frozen=True)
class OrderAccounting:
    source_rows: int
    sales: int
    distinct_sales: int
    not_sales: int
    rejected: int
    valid_sales: int

    @property
    def balanced(self) -> bool:
        """Every source order is in exactly one place, and the stored facts hold every
        valid sale once."""
        return (
            self.sales + self.not_sales + self.rejected == self.source_rows
            and self.sales == self.distinct_sales == self.valid_sales
        )


def store_recount(conn: psycopg.Connection) -> None:
    """Recount the sales and the accounting in the current transaction and keep them."""
    conn.execute("delete from soleflip_bi.source_recount")
    conn.execute(
        "insert into soleflip_bi.source_recount (platform_id, orders, revenue) "
        + _read("sales_by_platform.sql")
    )
    conn.execute(
        "insert into soleflip_bi.order_accounting "
        "(source_rows, sales, distinct_sales, not_sales, rejected, valid_sales) "
        + _read("order_accounting.sql")
    )
    conn.execute(
        "delete from soleflip_bi.order_accounting "
        "where id < (select max(id) from soleflip_bi.order_accounting)"
    )


def stored_recount(conn: psycopg.Connection) -> dict[str, tuple[int, Decimal]]:
    """Orders and revenue per platform id (text), as of the last facts maintenance."""
    rows = conn.execute(
        "select platform_id::text, orders, revenue from soleflip_bi.source_recount"
    ).fetchall()
    return {platform: (int(orders), Decimal(revenue)) for platform, orders, revenue in rows}


def stored_accounting(conn: psycopg.Connection) -> OrderAccounting | None:
    row = conn.execute(
        "select source_rows, sales, distinct_sales, not_sales, rejected, valid_sales "
        "from soleflip_bi.order_accounting order by id desc limit 1"
    ).fetchone()
    return OrderAccounting(*(int(v) for v in row)) if row else None
