"""The sales recounted from the sources, and where every source order went.

Kept in step with the stored order facts, inside the transaction that maintains them, so
the checks compare the views with exactly the orders they were built from, however many
orders arrive while the views refresh:

* ``soleflip_bi.order_verdict``: per order, the verdict of an independent recount of the
  sale rule (``recount/order_verdict.sql``, written without the cleaned layer's SQL) and
  the cleaned layer's own verdict (sale, not a sale, rejected);
* ``soleflip_bi.source_recount``: orders and revenue per platform by the recount, the
  yardstick of the views' ``revenue_reconciles`` check;
* ``soleflip_bi.order_accounting``: source rows, stored sales, orders that are not sales
  and rejected orders, for the ``orders_accounted_for`` check.

Like the facts, the verdicts are renewed for the changed orders only, and the totals move
by the difference; they are recounted from scratch whenever the facts are rebuilt and by
the daily run (02:00, ``refresh_daily``), which also catches a fact the incremental
maintenance got wrong. A recount of a million orders takes seconds, so it is kept off the
sensors' runs: they recount in full only when the last full recount is older than
``FULL_RECOUNT_AGE`` (the daily run did not run).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from importlib import resources

import psycopg
from psycopg import sql

# The daily run recounts every day; a recount older than this means it did not.
FULL_RECOUNT_AGE = "26 hours"


def _verdicts(ids: bool) -> sql.Composed:
    text = resources.files("soleflip_bi.cleaned").joinpath("recount", "order_verdict.sql")
    query = sql.SQL(text.read_text().strip())
    return query + sql.SQL(" where o.id = any(%(ids)s)") if ids else sql.Composed([query])


@dataclass(frozen=True)
class OrderAccounting:
    source_rows: int
    sales: int
    not_sales: int
    rejected: int
    valid_sales: int
    missing: int
    full_at: datetime

    @property
    def unaccounted(self) -> int:
        return self.source_rows - self.sales - self.not_sales - self.rejected

    @property
    def balanced(self) -> bool:
        """Every source order is in exactly one place, and the stored facts hold every
        valid sale."""
        return self.unaccounted == 0 and self.sales == self.valid_sales and self.missing == 0


def recount_all(conn: psycopg.Connection) -> None:
    """Judge every order again and recount every total (in the current transaction)."""
    conn.execute("truncate soleflip_bi.order_verdict")
    conn.execute(sql.SQL("insert into soleflip_bi.order_verdict {}").format(_verdicts(ids=False)))
    conn.execute("delete from soleflip_bi.source_recount")
    conn.execute(
        "insert into soleflip_bi.source_recount (platform_id, orders, revenue) "
        "select platform_id, count(*), sum(revenue) from soleflip_bi.order_verdict "
        "where platform_id is not null group by platform_id"
    )
    conn.execute(
        """
        insert into soleflip_bi.order_accounting
            (source_rows, sales, not_sales, rejected, valid_sales, missing, full_at,
             computed_at)
        select count(*),
               (select count(*) from analytics.order_facts),
               count(*) filter (where cleaned = 'not_sale'),
               count(*) filter (where cleaned = 'rejected'),
               count(*) filter (where cleaned = 'sale'),
               count(*) filter (where cleaned = 'missing'),
               now(), now()
        from soleflip_bi.order_verdict
        on conflict (id) do update set
            source_rows = excluded.source_rows, sales = excluded.sales,
            not_sales = excluded.not_sales, rejected = excluded.rejected,
            valid_sales = excluded.valid_sales, missing = excluded.missing,
            full_at = excluded.full_at, computed_at = excluded.computed_at
        """
    )


def recount_orders(conn: psycopg.Connection, ids: list, facts_delta: int) -> None:
    """Judge the orders ``ids`` again and move the totals by the difference;
    ``facts_delta`` is how many rows the stored facts gained (or lost)."""
    if _recount_due(conn):
        recount_all(conn)
        return
    before = _judged(
        conn, sql.SQL("delete from soleflip_bi.order_verdict where order_id = any(%(ids)s)"), ids
    )
    after = _judged(
        conn,
        sql.SQL("insert into soleflip_bi.order_verdict {}").format(_verdicts(ids=True)),
        ids,
    )
    platforms: dict[str, tuple[int, Decimal]] = {}
    classes: Counter[str] = Counter()
    for sign, rows in ((-1, before), (1, after)):
        for platform, cleaned, orders, revenue in rows:
            classes[cleaned] += sign * orders
            if platform is not None:
                n, r = platforms.get(platform, (0, Decimal(0)))
                platforms[platform] = (n + sign * orders, r + sign * revenue)
    for platform, (orders, revenue) in platforms.items():
        conn.execute(
            """
            insert into soleflip_bi.source_recount as t (platform_id, orders, revenue)
            values (%s, %s, %s)
            on conflict (platform_id) do update
                set orders = t.orders + excluded.orders, revenue = t.revenue + excluded.revenue
            """,
            (platform, orders, revenue),
        )
    conn.execute("delete from soleflip_bi.source_recount where orders = 0 and revenue = 0")
    conn.execute(
        """
        update soleflip_bi.order_accounting set
            source_rows = source_rows + %(rows)s, sales = sales + %(facts)s,
            not_sales = not_sales + %(not_sale)s, rejected = rejected + %(rejected)s,
            valid_sales = valid_sales + %(sale)s, missing = missing + %(missing)s,
            computed_at = now()
        """,
        {
            "rows": sum(classes.values()),
            "facts": facts_delta,
            "not_sale": classes["not_sale"],
            "rejected": classes["rejected"],
            "sale": classes["sale"],
            "missing": classes["missing"],
        },
    )


def _judged(conn: psycopg.Connection, statement: sql.Composable, ids: list) -> list[tuple]:
    """(platform, cleaned, orders, revenue) of the verdict rows a statement removes or adds."""
    return conn.execute(
        sql.SQL(
            "with changed as ({} returning platform_id, revenue, cleaned) "
            "select platform_id::text, cleaned, count(*), coalesce(sum(revenue), 0) "
            "from changed group by 1, 2"
        ).format(statement),
        {"ids": ids},
    ).fetchall()


def _recount_due(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "select full_at < now() - %s::interval from soleflip_bi.order_accounting",
        (FULL_RECOUNT_AGE,),
    ).fetchone()
    return row is None or bool(row[0])


def stored_recount(conn: psycopg.Connection) -> dict[str, tuple[int, Decimal]]:
    """Orders and revenue per platform id (text), as of the last facts maintenance."""
    rows = conn.execute(
        "select platform_id::text, orders, revenue from soleflip_bi.source_recount"
    ).fetchall()
    return {platform: (int(orders), Decimal(revenue)) for platform, orders, revenue in rows}


def stored_accounting(conn: psycopg.Connection) -> OrderAccounting | None:
    row = conn.execute(
        "select source_rows, sales, not_sales, rejected, valid_sales, missing, full_at "
        "from soleflip_bi.order_accounting"
    ).fetchone()
    return OrderAccounting(*(int(v) for v in row[:6]), row[6]) if row else None
