"""The demo data set: the shop's size by default, deterministic, dirty on purpose."""

from __future__ import annotations

import re

import psycopg
import pytest
from psycopg import sql

from soleflip_bi.cli.main import main
from soleflip_bi.shared.catalogue import SOURCE_TABLES
from soleflip_bi.sources.demo import DemoLoadRefused, load_demo

FINGERPRINT = """
select (select count(*) from sales."order"),
       (select count(*) from inventory.stock),
       (select sum(gross_sale) from sales."order"),
       (select sum(purchase_price) from inventory.stock),
       (select string_agg(id::text, ',' order by id) from catalog.brand)
"""


def test_default_size_matches_the_shop(demo_database_url: str) -> None:
    with psycopg.connect(demo_database_url) as conn:
        counts = dict(
            conn.execute(
                """
                select 'orders', count(*) from sales."order" union all
                select 'products', count(*) from catalog.product union all
                select 'brands', count(*) from catalog.brand union all
                select 'categories', count(*) from catalog.category union all
                select 'sizes', count(*) from catalog.size_master union all
                select 'marketplaces', count(*) from platform.marketplace union all
                select 'suppliers', count(*) from supplier.profile union all
                select 'stock', count(*) from inventory.stock union all
                select 'unsold stock', count(*) from inventory.stock s
                    where not exists (select from sales."order" o where o.inventory_item_id = s.id)
                """
            ).fetchall()
        )
    assert counts["orders"] == 1106
    assert counts["products"] == 712
    assert counts["brands"] == 65
    assert counts["categories"] == 8
    assert counts["sizes"] == 20
    assert counts["marketplaces"] == 5
    assert counts["suppliers"] == 20
    assert 1400 <= counts["stock"] <= 1600
    assert counts["unsold stock"] > 300


def test_demo_data_contains_every_kind_of_dirty_row(demo_database_url: str) -> None:
    with psycopg.connect(demo_database_url) as conn:
        row = conn.execute(
            """
            select
              count(distinct status) filter (where lower(btrim(status)) = 'completed'),
              count(*) filter (where sold_at is null),
              count(*) filter (where platform_fee is null),
              count(*) filter (where currency_code <> 'EUR'),
              count(*) filter (where buyer_city is null or btrim(buyer_city) = ''),
              count(distinct buyer_city) filter (where lower(btrim(buyer_city)) = 'berlin'),
              (select count(*) from inventory.stock where supplier_id is null)
            from sales."order"
            """
        ).fetchone()
    mixed_case, no_sold_at, null_fee, foreign_currency, no_city, berlin_spellings, no_supplier = row
    assert mixed_case >= 3
    assert no_sold_at > 0
    assert null_fee > 0
    assert foreign_currency > 0
    assert no_city > 0
    assert berlin_spellings >= 2
    assert no_supplier > 0


def test_same_seed_same_data_and_reload_replaces(scratch_database_url: str) -> None:
    with psycopg.connect(scratch_database_url) as conn:
        load_demo(conn, orders=3000, seed=7)
        first = conn.execute(FINGERPRINT).fetchone()
        load_demo(conn, orders=3000, seed=7)
        second = conn.execute(FINGERPRINT).fetchone()
        load_demo(conn, orders=3000, seed=8)
        other_seed = conn.execute(FINGERPRINT).fetchone()
    assert first == second
    assert first[0] == 3000  # replaced, not duplicated
    assert other_seed[:2] == first[:2]
    assert other_seed[2] != first[2]


def test_load_refuses_data_it_did_not_write(scratch_database_url: str) -> None:
    with psycopg.connect(scratch_database_url) as conn:
        load_demo(conn, orders=50, seed=1)
        conn.execute("drop table public.soleflip_demo_load")
        conn.commit()
        with pytest.raises(DemoLoadRefused, match="refusing"):
            load_demo(conn, orders=50, seed=1)
        assert conn.execute('select count(*) from sales."order"').fetchone()[0] == 50


def test_cli_load_demo_reports_counts(scratch_database_url: str, use_database, capsys) -> None:
    """The table of counts the CLI prints is the database's real row count of every
    source table, one line each, and the orders line says exactly the number asked for."""
    use_database(scratch_database_url)
    assert main(["db", "load-demo", "--orders", "200", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    reported = {
        match["table"]: int(match["rows"].replace(",", ""))
        for match in re.finditer(r"^  (?P<table>\S+\.\S+)\s+(?P<rows>[\d,]+)$", out, re.M)
    }
    with psycopg.connect(scratch_database_url) as conn:
        actual = {
            table.qualified_name: conn.execute(
                sql.SQL("select count(*) from {}").format(table.identifier)
            ).fetchone()[0]
            for table in SOURCE_TABLES
        }
    assert reported == actual
    assert reported['sales."order"'] == 200
    assert all(rows > 0 for rows in reported.values()), reported


def test_cli_rejects_a_bad_database_url(use_database, capsys) -> None:
    use_database("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
    assert main(["db", "load-demo", "--orders", "10"]) == 2
    assert "error" in capsys.readouterr().err
