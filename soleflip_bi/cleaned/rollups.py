"""Stored rollups of the order facts: small tables the gold views aggregate instead of the
million facts, maintained with the facts in their transaction.

A rollup is one query in ``cleaned/rollups/<name>.sql`` over a relation called ``facts``
(the order facts), grouped by at least its key columns. The table ``analytics.<name>`` is
made from that query and holds one row per key.

* facts rebuilt      -> every rollup is rebuilt from all the facts;
* facts incremental  -> the facts rows removed and stored by this maintenance (old and new
  versions of each touched order) name the keys whose cells may differ; only those cells
  are deleted and aggregated again, from the facts of those keys (an index per key).

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

# The facts one maintenance removed and stored (both versions of every touched order).
TOUCHED_FACTS = "soleflip_touched_facts"
ORDER_FACTS = sql.Identifier(ANALYTICS_SCHEMA, "order_facts")


@dataclass(frozen=True)
class Rollup:
    name: str
    key: tuple[str, ...]

    @property
    def query(self) -> str:
        folder = resources.files("soleflip_bi.cleaned").joinpath("rollups")
        return folder.joinpath(f"{self.name}.sql").read_text().strip().rstrip(";")

    @property
    def table(self) -> sql.Identifier:
        return sql.Identifier(ANALYTICS_SCHEMA, self.name)

    @property
    def facts_index(self) -> str:
        """The index on the order facts that finds the facts of a few keys."""
        return f"order_facts_{self.name}_key_idx"

    def over(self, facts: sql.Composable) -> sql.Composed:
        """The rollup's query with ``facts`` bound to ``facts`` (a relation or subquery)."""
        return sql.SQL("with facts as ({}) {}").format(facts, sql.SQL(self.query))


ROLLUPS: tuple[Rollup, ...] = (
    Rollup("stock_sales", ("inventory_id",)),
    Rollup("sales_by_day_platform", ("sale_date", "platform_id")),
    Rollup(
        "sales_by_platform_city_month", ("platform_id", "sale_month", "country_key", "city_key")
    ),
    Rollup("sales_by_product_month", ("product_id", "brand_id", "supplier_id", "sale_month")),
)


def rollups_hash() -> str:
    digest = hashlib.sha256()
    for rollup in ROLLUPS:
        digest.update(repr(rollup).encode() + rollup.query.encode())
    return digest.hexdigest()[:16]


def create_rollups(conn: psycopg.Connection) -> None:
    """Create each rollup table (empty) with its unique key, and the facts index it is
    maintained through; a table whose columns no longer match its query is replaced."""
    everything = sql.SQL("select * from {}").format(ORDER_FACTS)
    for rollup in ROLLUPS:
        if not _columns_match(conn, rollup):
            conn.execute(sql.SQL("drop table if exists {} cascade").format(rollup.table))
        conn.execute(
            sql.SQL("create table if not exists {} as {} with no data").format(
                rollup.table, rollup.over(everything)
            )
        )
        columns = sql.SQL(", ").join(map(sql.Identifier, rollup.key))
        conn.execute(
            sql.SQL("create unique index if not exists {} on {} ({})").format(
                sql.Identifier(f"{rollup.name}_key"), rollup.table, columns
            )
        )
        conn.execute(
            sql.SQL("create index if not exists {} on {} ({})").format(
                sql.Identifier(rollup.facts_index), ORDER_FACTS, columns
            )
        )


def rebuild_rollups(conn: psycopg.Connection) -> None:
    """Aggregate every rollup from all the facts (after the facts were rebuilt)."""
    everything = sql.SQL("select * from {}").format(ORDER_FACTS)
    for rollup in ROLLUPS:
        conn.execute(sql.SQL("truncate {}").format(rollup.table))
        conn.execute(sql.SQL("insert into {} {}").format(rollup.table, rollup.over(everything)))
        conn.execute(sql.SQL("analyze {}").format(rollup.table))


def start_touched_facts(conn: psycopg.Connection) -> sql.Identifier:
    """A temporary table, dropped at commit, for the facts rows a maintenance touches."""
    conn.execute(
        sql.SQL("create temporary table {} on commit drop as select * from {} with no data").format(
            sql.Identifier(TOUCHED_FACTS), ORDER_FACTS
        )
    )
    return sql.Identifier(TOUCHED_FACTS)


def maintain_rollups(conn: psycopg.Connection) -> int:
    """Aggregate again the cells of the keys the touched facts name; return the cells
    replaced. Called after the facts were maintained incrementally, in that transaction."""
    touched = sql.Identifier(TOUCHED_FACTS)
    conn.execute(sql.SQL("analyze {}").format(touched))
    replaced = 0
    for rollup in ROLLUPS:
        key = sql.SQL(", ").join(map(sql.Identifier, rollup.key))
        keys = sql.SQL("select distinct {} from {}").format(key, touched)
        conn.execute(sql.SQL("delete from {} where ({}) in ({})").format(rollup.table, key, keys))
        facts_of_keys = sql.SQL("select * from {} where ({}) in ({})").format(
            ORDER_FACTS, key, keys
        )
        replaced += conn.execute(
            sql.SQL("insert into {} {}").format(rollup.table, rollup.over(facts_of_keys))
        ).rowcount
    return replaced


def _columns_match(conn: psycopg.Connection, rollup: Rollup) -> bool:
    """Whether the stored table (if any) has the columns and types its query yields."""
    if not conn.execute(
        "select to_regclass(%s) is not null", (f"analytics.{rollup.name}",)
    ).fetchone()[0]:
        return True
    probe = sql.Identifier("soleflip_rollup_probe")
    conn.execute(
        sql.SQL("create temporary table {} on commit drop as {} with no data").format(
            probe, rollup.over(sql.SQL("select * from {}").format(ORDER_FACTS))
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
