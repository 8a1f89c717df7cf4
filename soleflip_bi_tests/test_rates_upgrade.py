"""The upgrade from an older release's one fixed rate per currency: ECB's daily rates for
the currencies ECB quotes, the shop's own rate kept for the others (so their orders still
count), every change reported, and nothing of anyone else's dropped (no CASCADE)."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from soleflip_bi.cleaned.facts import refresh_order_facts
from soleflip_bi.cleaned.layer import REPLACEABLE_VIEWS
from soleflip_bi.cleaned.rates_upgrade import FIXED_SINCE
from soleflip_bi.cli.main import main
from soleflip_bi_tests.support.shop import stock_shop

OLD_RATES = {"EUR": "1.0", "USD": "0.92592593", "GBP": "1.16279070", "aed ": "0.25", "XX1": "2"}


@pytest.fixture
def older_release(scratch_database_url: str, use_database) -> str:
    """A shop as the release with fixed rates left it: the old table, a view of the cleaned
    layer's reading it, and an order in a currency ECB does not quote."""
    stock_shop(scratch_database_url, orders=200, seed=5, views=False)
    with psycopg.connect(scratch_database_url) as conn:
        conn.execute("create schema analytics")
        conn.execute(
            "create table analytics.currency_rate (currency_code text primary key, "
            "rate_to_reporting numeric(18, 8) not null check (rate_to_reporting > 0))"
        )
        for code, rate in OLD_RATES.items():
            conn.execute("insert into analytics.currency_rate values (%s, %s)", (code, rate))
        conn.execute(
            f"create view analytics.{REPLACEABLE_VIEWS[-1]} as "
            "select currency_code, rate_to_reporting from analytics.currency_rate"
        )
        conn.execute(
            'insert into sales."order" (id, status, currency_code, gross_sale, platform_fee, '
            "sold_at) values (gen_random_uuid(), 'completed', 'AED', 400, 0, "
            "'2025-03-04 12:00+01')"
        )
    return use_database(scratch_database_url)


def test_the_shops_rates_are_kept_and_every_change_is_reported(older_release: str, capsys) -> None:
    assert main(["rates", "status"]) == 0
    out = capsys.readouterr().out
    assert "one fixed rate per currency became rates by day" in out
    assert (
        "USD: the fixed rate (0.92592593 EUR per USD, 1.079999995 per euro) gave way to ECB's"
        in out
    )
    assert "GBP: the fixed rate (1.16279070 EUR per GBP" in out
    assert "AED: ECB does not quote it; the shop's rate 4 per euro is kept" in out
    assert "'XX1': not a currency code, not kept" in out
    assert not any(line.startswith("EUR") for line in out.splitlines())  # needs no rate
    with psycopg.connect(older_release) as conn:
        assert conn.execute(
            "select rate_date, rate, source from analytics.currency_rate where currency = 'AED'"
        ).fetchall() == [(FIXED_SINCE, Decimal("4"), "shop")]
        assert conn.execute(
            "select count(distinct source), min(rate_date) from analytics.currency_rate "
            "where currency = 'USD'"
        ).fetchone() == (1, FIXED_SINCE.replace(day=4))  # ECB's history, from 1999-01-04
        refresh_order_facts(conn)
        aed = conn.execute(
            "select revenue, exchange_rate from analytics.order_facts where currency_code = 'AED'"
        ).fetchall()
        assert (Decimal("100.00"), Decimal("4")) in aed  # 400 AED at 4 per euro
        assert {rate for _, rate in aed} == {Decimal("4")}  # the demo's AED sales as well
        assert not conn.execute(
            "select exists (select from analytics.source_quality_issues "
            "where reason = 'unknown_currency' and row_id::text in "
            "(select id::text from sales.\"order\" where currency_code = 'AED'))"
        ).fetchone()[0]
    assert main(["rates", "status"]) == 0  # the upgrade is done once
    assert "fixed rate" not in capsys.readouterr().out


def test_someone_elses_view_on_the_old_table_stops_the_upgrade_in_one_sentence(
    older_release: str, capsys
) -> None:
    with psycopg.connect(older_release) as conn:
        conn.execute("create schema reporting")
        conn.execute(
            "create view reporting.fx as select currency_code from analytics.currency_rate"
        )
    assert main(["rates", "status"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "soleflip-bi: error: analytics.currency_rate holds one fixed rate per currency and "
        "cannot become rates by day while reporting.fx reads it: change or drop that first "
        "(nothing was changed)\n"
    )
    with psycopg.connect(older_release) as conn:
        assert conn.execute("select count(*) from analytics.currency_rate").fetchone()[0] == len(
            OLD_RATES
        )
        assert conn.execute("select count(*) from reporting.fx").fetchone()[0] == len(OLD_RATES)
