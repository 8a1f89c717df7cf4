"""Stored rollups of the facts: small tables the gold views aggregate instead of a million
rows, maintained with the facts in their transaction.

A rollup is one query in ``cleaned/rollups/<name>.sql`` over a stored table (its ``Base``):
the order facts, read as ``facts``, or the stock items with their sales, read as
``stock``; grouped by at least its key columns. The table ``analytics.<name>`` is made
from that query and holds one row per key.

* base rebuilt      -> every rollup of it is rebuilt from all its rows;
* base incremental  -> the rows this maintenance removed and stored (old and new
  versions of each touched order or stock item) are kept in a temporary table. A cell one of whose
  orders was removed or changed is aggregated again from the facts of its key (an index
  per key); a cell that only gained orders takes the aggregate of the new orders merged
  into it: sums and counts added, minimums and maximums compared (``Rollup.sums``,
  ``lows``, ``highs``). New orders, the common case, cost what they are, not what their
  cells already hold.

So a view's refresh scans thousands of cells instead of a million orders, and keeping the
cells current costs what changed. Each rollup equals its query over all facts after every
maintenance (``soleflip_bi_tests/test_incremental_facts.py``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA


@dataclass(frozen=True)
class Base:
    """A stored table that rollups aggregate."""

    table: str
    alias: str  # the name a rollup's query reads it by
    touched: str  # the temporary table of the rows one maintenance removed and stored

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(ANALYTICS_SCHEMA, self.table)


FACTS = Base("order_facts", "facts", "soleflip_touched_facts")
STOCK = Base("stock_with_sales", "stock", "soleflip_touched_stock")


@dataclass(frozen=True)
class Rollup:
    name: str
    key: tuple[str, ...]
    sums: tuple[str, ...]  # sums and counts: merged by adding
    lows: tuple[str, ...] = ()  # minimums: merged by the smaller
    highs: tuple[str, ...] = ()  # maximums, and names that follow the key: the larger
    base: Base = FACTS
    # The column that counts a cell's rows, for a rollup of counts and never-NULL sums only:
    # a row removed or changed is then subtracted from its cell (emptied cells deleted)
    # instead of the cell being aggregated again.
    count: str | None = None

    @property
    def subtractable(self) -> bool:
        return self.count is not None and not self.lows and not self.highs

    @property
    def query(self) -> str:
        folder = resources.files("soleflip_bi.cleaned").joinpath("rollups")
        return folder.joinpath(f"{self.name}.sql").read_text().strip().rstrip(";")

    @property
    def table(self) -> sql.Identifier:
        return sql.Identifier(ANALYTICS_SCHEMA, self.name)

    @property
    def base_index(self) -> str:
        """The index on the base that finds the rows of a few keys."""
        return f"{self.base.table}_{self.name}_key_idx"

    def over(self, rows: sql.Composable) -> sql.Composed:
        """The rollup's query reading ``rows`` (a relation or subquery) as its base."""
        return sql.SQL("with {} as ({}) {}").format(
            sql.Identifier(self.base.alias), rows, sql.SQL(self.query)
        )

    def over_all(self) -> sql.Composed:
        return self.over(sql.SQL("select * from {}").format(self.base.identifier))


SALES = ("orders", "units", "revenue", "net_proceeds", "profit", "roi_sum", "roi_count")
ROLLUPS: tuple[Rollup, ...] = (
    Rollup(
        "stock_sales",
        ("inventory_id",),
        sums=("times_sold", "total_revenue", "total_profit"),
        lows=("first_sale_date",),
        highs=("last_sold_date",),
    ),
    Rollup(
        "sales_by_day_platform",
        ("sale_date", "platform_id"),
        sums=(*SALES, "fees", "shipping"),
        highs=("platform_name", "platform_slug", "sale_month"),
    ),
    Rollup(
        "sales_by_platform_city_month",
        ("platform_id", "sale_month", "country_key", "city_key"),
        sums=(*SALES, "fees", "shipping", "payouts", "payout_days_sum", "payout_days_count"),
        lows=("min_revenue",),
        highs=("max_revenue", "platform_name", "platform_slug"),
    ),
    Rollup(
        "sales_by_product_supplier",
        ("product_id", "brand_id", "supplier_id"),
        sums=(
            *("orders", "units", "revenue", "revenue_squared", "profit", "roi_sum", "roi_count"),
            *("fees", "purchase_sum", "purchase_count"),
        ),
        lows=("min_revenue", "first_sale_date"),
        highs=("max_revenue", "last_sale_date", "product_name", "sku", "category_name"),
    ),
    Rollup("sales_by_brand_month", ("brand_id", "sale_month"), sums=("orders",), count="orders"),
    Rollup(
        "sales_by_city_product",
        ("country_key", "city_key", "product_id", "brand_id"),
        sums=("orders",),
        count="orders",
    ),
    Rollup(
        "sales_by_spelling",
        ("country_key", "city_key", "country", "city"),
        sums=("orders",),
        count="orders",
    ),
    Rollup(
        "stock_by_supplier_product",
        ("supplier_id", "product_id", "brand_id"),
        sums=(
            *("purchases", "spent", "purchase_sum", "purchase_count", "items_sold"),
            *("days_to_sell_sum", "days_to_sell_count", "unsold_units", "unsold_value"),
        ),
        base=STOCK,
        count="purchases",
    ),
)


def rollups_hash() -> str:
    digest = hashlib.sha256()
    for rollup in ROLLUPS:
        digest.update(repr(rollup).encode() + rollup.query.encode())
    return digest.hexdigest()[:16]


def of(base: Base) -> list[Rollup]:
    return [rollup for rollup in ROLLUPS if rollup.base == base]


def create_rollups(conn: psycopg.Connection, base: Base) -> None:
    """Create each rollup table of ``base`` (empty) with its unique key, and the index on
    the base it is maintained through; a table whose columns no longer match its query is
    replaced."""
    for rollup in of(base):
        if not _columns_match(conn, rollup):
            conn.execute(sql.SQL("drop table if exists {} cascade").format(rollup.table))
        conn.execute(
            sql.SQL("create table if not exists {} as {} with no data").format(
                rollup.table, rollup.over_all()
            )
        )
        conn.execute(
            sql.SQL("create unique index if not exists {} on {} ({})").format(
                sql.Identifier(f"{rollup.name}_key"),
                rollup.table,
                sql.SQL(", ").join(map(sql.Identifier, rollup.key)),
            )
        )
    create_base_indexes(conn, base)


def create_base_indexes(conn: psycopg.Connection, base: Base) -> None:
    """The indexes on ``base`` that find the rows of a few keys of each of its rollups."""
    for rollup in of(base):
        conn.execute(
            sql.SQL("create index if not exists {} on {} ({})").format(
                sql.Identifier(rollup.base_index),
                base.identifier,
                sql.SQL(", ").join(map(sql.Identifier, rollup.key)),
            )
        )


def drop_base_indexes(conn: psycopg.Connection, base: Base) -> None:
    """Drop them before a rebuild of the base: building an index once after the load is
    several times faster than keeping it up to date row by row during the load."""
    for rollup in of(base):
        conn.execute(
            sql.SQL("drop index if exists {}").format(
                sql.Identifier(ANALYTICS_SCHEMA, rollup.base_index)
            )
        )


def rebuild_rollups(conn: psycopg.Connection, base: Base) -> None:
    """Aggregate every rollup of ``base`` from all its rows (after it was rebuilt)."""
    for rollup in of(base):
        conn.execute(sql.SQL("truncate {}").format(rollup.table))
        conn.execute(sql.SQL("insert into {} {}").format(rollup.table, rollup.over_all()))
        conn.execute(sql.SQL("analyze {}").format(rollup.table))


def start_touched(conn: psycopg.Connection, base: Base) -> sql.Identifier:
    """A temporary table, dropped at commit, for the rows of ``base`` a maintenance
    touches: the base's columns and ``touch``, -1 for a row removed and 1 for one stored."""
    touched = sql.Identifier(base.touched)
    conn.execute(
        sql.SQL(
            "create temporary table {} on commit drop as "
            "select *, 0::smallint as touch from {} with no data"
        ).format(touched, base.identifier)
    )
    return touched


def maintain_rollups(conn: psycopg.Connection, base: Base) -> None:
    """Bring every rollup of ``base`` in step with its touched rows (see the module
    docstring). Called after the base was maintained incrementally, in that transaction."""
    touched = sql.Identifier(base.touched)
    conn.execute(sql.SQL("analyze {}").format(touched))
    for rollup in of(base):
        if rollup.subtractable:
            _subtract_and_add(conn, rollup, touched)
            continue
        key = sql.SQL(", ").join(map(sql.Identifier, rollup.key))
        removed = sql.SQL("select {} from {} where touch < 0").format(key, touched)
        conn.execute(
            sql.SQL("delete from {} where ({}) in ({})").format(rollup.table, key, removed)
        )
        rows_of_removed = sql.SQL("select * from {} where ({}) in ({})").format(
            base.identifier, key, removed
        )
        conn.execute(
            sql.SQL("insert into {} {}").format(rollup.table, rollup.over(rows_of_removed))
        )
        same_key = sql.SQL(" and ").join(
            sql.SQL("r.{c} = t.{c}").format(c=sql.Identifier(c)) for c in rollup.key
        )
        only_added = sql.SQL(
            "select * from {t} t where t.touch > 0 and not exists "
            "(select from {t} r where r.touch < 0 and {same})"
        ).format(t=touched, same=same_key)
        conn.execute(
            sql.SQL("insert into {} {} on conflict ({}) do update set {}").format(
                rollup.table, rollup.over(only_added), key, _merge(rollup)
            )
        )


def _subtract_and_add(conn: psycopg.Connection, rollup: Rollup, touched: sql.Identifier) -> None:
    """Take the removed rows' aggregate out of their cells, merge the stored rows' in, and
    delete the cells left with no row."""
    key = sql.SQL(", ").join(map(sql.Identifier, rollup.key))
    removed = rollup.over(sql.SQL("select * from {} where touch < 0").format(touched))
    conn.execute(
        sql.SQL("update {} r set {} from ({}) d where {}").format(
            rollup.table,
            sql.SQL(", ").join(
                sql.SQL("{c} = r.{c} - d.{c}").format(c=sql.Identifier(c)) for c in rollup.sums
            ),
            removed,
            sql.SQL(" and ").join(
                sql.SQL("r.{c} = d.{c}").format(c=sql.Identifier(c)) for c in rollup.key
            ),
        )
    )
    added = rollup.over(sql.SQL("select * from {} where touch > 0").format(touched))
    conn.execute(
        sql.SQL("insert into {} {} on conflict ({}) do update set {}").format(
            rollup.table, added, key, _merge(rollup)
        )
    )
    conn.execute(
        sql.SQL("delete from {} where {} = 0").format(rollup.table, sql.Identifier(rollup.count))
    )


def _merge(rollup: Rollup) -> sql.Composed:
    """SET clauses that merge the aggregate of new orders (excluded) into a stored cell."""
    table = sql.Identifier(rollup.name)
    sets = []
    for column in rollup.sums:  # a sum is NULL only when both sides are
        sets.append(
            sql.SQL(
                "{c} = case when {t}.{c} is null and excluded.{c} is null then null "
                "else coalesce({t}.{c}, 0) + coalesce(excluded.{c}, 0) end"
            ).format(c=sql.Identifier(column), t=table)
        )
    for function, columns in (("least", rollup.lows), ("greatest", rollup.highs)):
        for column in columns:  # least/greatest skip NULLs, as min/max do
            sets.append(
                sql.SQL("{c} = {f}({t}.{c}, excluded.{c})").format(
                    c=sql.Identifier(column), f=sql.SQL(function), t=table
                )
            )
    return sql.SQL(", ").join(sets)


def _columns_match(conn: psycopg.Connection, rollup: Rollup) -> bool:
    """Whether the stored table (if any) has the columns and types its query yields."""
    if not conn.execute(
        "select to_regclass(%s) is not null", (f"analytics.{rollup.name}",)
    ).fetchone()[0]:
        return True
    probe = sql.Identifier("soleflip_rollup_probe")
    conn.execute(
        sql.SQL("create temporary table {} on commit drop as {} with no data").format(
            probe, rollup.over_all()
        )
    )
    same = conn.execute(
        """
        select array(select (attname, atttypid) from pg_attribute
                     where attrelid = to_regclass(%(table)s) and attnum > 0
                       and not attisdropped order by attnum)::text
             = array(select (attname, atttypid) from pg_attribute
                     where attrelid = 'pg_temp.soleflip_rollup_probe'::regclass and attnum > 0
                       and not attisdropped order by attnum)::text
        """,
        {"table": f"analytics.{rollup.name}"},
    ).fetchone()[0]
    conn.execute(sql.SQL("drop table {}").format(probe))
    return bool(same)
