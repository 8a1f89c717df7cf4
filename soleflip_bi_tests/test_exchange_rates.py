"""Each sale in euros at the ECB rate of its day in the shop's time zone: the weekend rule,
incremental re-conversion after a correction, the stale-rate check, rates files, and an
independent pandas recomputation of every order's euros."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import psycopg
import pytest

from soleflip_bi.cleaned.assets import cleaned_layer
from soleflip_bi.cleaned.facts import FactsMode, refresh_order_facts
from soleflip_bi.cleaned.layer import apply_cleaned_layer
from soleflip_bi.cleaned.rates import load_rates
from soleflip_bi.cleaned.recount import stored_accounting
from soleflip_bi.cli.main import main
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.sources.ecb_rates import read_rates_file, shipped_history, shipped_last_date
from soleflip_bi_tests.support.ecb import with_rates
from soleflip_bi_tests.support.shop import stock_shop

BERLIN = ZoneInfo("Europe/Berlin")
CENT = Decimal("0.01")
AMOUNTS = ("revenue", "fees", "shipping", "net_proceeds")


@pytest.fixture
def shop(scratch_database_url: str, use_database) -> str:
    stock_shop(scratch_database_url, orders=1106, seed=42, views=False)
    with psycopg.connect(scratch_database_url) as conn:
        apply_cleaned_layer(conn)
        refresh_order_facts(conn)
    return use_database(scratch_database_url)


def _rate(conn: psycopg.Connection, currency: str, day: date) -> Decimal:
    return conn.execute(
        "select rate from analytics.currency_rate where currency = %s and rate_date = %s",
        (currency, day),
    ).fetchone()[0]


def _sell(conn: psycopg.Connection, currency: str, gross: str, sold_at: datetime) -> str:
    return str(
        conn.execute(
            'insert into sales."order" (id, status, currency_code, gross_sale, platform_fee, '
            "sold_at) values (gen_random_uuid(), 'completed', %s, %s, 5, %s) returning id",
            (currency, Decimal(gross), sold_at),
        ).fetchone()[0]
    )


def _facts(conn: psycopg.Connection) -> dict[str, tuple]:
    rows = conn.execute(
        "select order_id::text, currency_code, sale_date, rate_date, exchange_rate, revenue, "
        "fees, shipping, net_proceeds from analytics.order_facts"
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def _euros(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount / rate).quantize(CENT, rounding=ROUND_HALF_UP)


def test_the_shipped_history_is_ecbs_and_loaded_on_set_up(shop: str) -> None:
    history = shipped_history()
    assert history.first_date == date(1999, 1, 4)  # the euro's first trading day
    assert {"USD", "GBP", "CHF", "JPY"} <= set(history.currencies)
    with psycopg.connect(shop) as conn:
        stored = conn.execute(
            "select count(*), max(rate_date), min(source) from analytics.currency_rate"
        ).fetchone()
    assert stored == (len(history.rates), shipped_last_date(), history.source)


def test_a_weekend_sale_takes_fridays_rate_and_its_day_is_the_shops(shop: str) -> None:
    friday, monday = date(2026, 10, 23), date(2026, 10, 26)
    with psycopg.connect(shop) as conn:
        saturday_noon = _sell(conn, "USD", "200.00", datetime(2026, 10, 24, 12, tzinfo=BERLIN))
        # 00:30 on Monday in Berlin is still Sunday in UTC: Monday's rate, not Friday's.
        monday_early = _sell(conn, "USD", "200.00", datetime(2026, 10, 26, 0, 30, tzinfo=BERLIN))
        before_the_euro = _sell(conn, "GBP", "50.00", datetime(1998, 12, 31, 12, tzinfo=BERLIN))
        conn.commit()
        assert refresh_order_facts(conn).mode is FactsMode.INCREMENTAL
        facts = _facts(conn)
        fri, mon = _rate(conn, "USD", friday), _rate(conn, "USD", monday)
        rejected = conn.execute(
            "select reason from analytics.source_quality_issues where row_id = %s",
            (before_the_euro,),
        ).fetchone()
    assert fri != mon
    assert facts[saturday_noon][1:4] == (date(2026, 10, 24), friday, fri)
    assert facts[saturday_noon][4] == _euros(Decimal("200.00"), fri)
    assert facts[saturday_noon][5] == _euros(Decimal(5), fri)
    assert facts[monday_early][1:4] == (monday, monday, mon)
    assert facts[monday_early][4] == _euros(Decimal("200.00"), mon)
    # no GBP rate on or before 1998-12-31: rejected, never converted at a later rate
    assert before_the_euro not in facts
    assert rejected == ("unknown_currency",)


def test_a_sale_without_a_currency_is_rejected_never_taken_as_euros(shop: str) -> None:
    with psycopg.connect(shop) as conn:
        order = conn.execute(
            'insert into sales."order" (id, status, currency_code, gross_sale, sold_at) '
            "values (gen_random_uuid(), 'completed', null, 99, now()) returning id::text"
        ).fetchone()[0]
        conn.commit()
        refresh_order_facts(conn)
        assert order not in _facts(conn)
        assert conn.execute(
            "select reason from analytics.source_quality_issues where row_id = %s", (order,)
        ).fetchone() == ("unknown_currency",)


def test_correcting_one_days_rate_reconverts_exactly_that_days_sales(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wednesday = date(2026, 10, 21)
    with psycopg.connect(shop) as conn:
        for day, hour in ((20, 10), (21, 9), (21, 15), (21, 23), (22, 11)):
            _sell(conn, "USD", "150.00", datetime(2026, 10, day, hour, tzinfo=BERLIN))
        gbp_same_day = _sell(conn, "GBP", "150.00", datetime(2026, 10, 21, 12, tzinfo=BERLIN))
        conn.commit()
        refresh_order_facts(conn)
        before = _facts(conn)
        usd = _rate(conn, "USD", wednesday)
    corrected = usd + Decimal("0.0100")
    path = tmp_path / "shop-rates.csv"
    path.write_text(f"Date,USD,GBP\n2026-10-21,{corrected},N/A\n")

    assert main(["rates", "load", str(path)]) == 0
    assert "0 new rates, 1 changed, 0 unchanged" in capsys.readouterr().out

    with psycopg.connect(shop) as conn:
        result = refresh_order_facts(conn)
        after = _facts(conn)
        accounting = stored_accounting(conn)
    that_day = {i for i, f in before.items() if f[0] == "USD" and f[1] == wednesday}
    changed = {i for i in before if before[i] != after.get(i)}
    assert len(that_day) >= 3
    assert changed == that_day
    assert gbp_same_day not in changed
    assert result.mode is FactsMode.INCREMENTAL
    assert (result.rows_deleted, result.rows_inserted) == (len(that_day), len(that_day))
    for order in that_day:
        assert after[order][2:4] == (wednesday, corrected)
    assert accounting is not None and accounting.balanced


def test_correcting_a_friday_reconverts_its_weekend_too(shop: str, tmp_path: Path) -> None:
    with psycopg.connect(shop) as conn:
        weekend = {
            _sell(conn, "CHF", "99.00", datetime(2026, 10, day, 12, tzinfo=BERLIN))
            for day in (23, 24, 25)
        }
        monday = _sell(conn, "CHF", "99.00", datetime(2026, 10, 26, 12, tzinfo=BERLIN))
        conn.commit()
        refresh_order_facts(conn)
        before = _facts(conn)
    path = tmp_path / "eurofxref.csv"
    # the daily file's layout: spelled-out date, padded cells, a trailing comma
    path.write_text("Date, USD, CHF, \n23 October 2026, N/A, 0.9500, \n")
    assert main(["rates", "load", str(path)]) == 0
    with psycopg.connect(shop) as conn:
        refresh_order_facts(conn)
        after = _facts(conn)
    assert {i for i in before if before[i] != after.get(i)} == weekend
    assert {after[i][3] for i in weekend} == {Decimal("0.9500")}
    assert after[monday] == before[monday]


def test_an_unchanged_file_reconverts_nothing(shop: str, capsys) -> None:
    assert main(["rates", "load"]) == 0
    out = capsys.readouterr().out
    assert f"0 new rates, 0 changed, {len(shipped_history().rates)} unchanged" in out
    with psycopg.connect(shop) as conn:
        assert refresh_order_facts(conn).mode is FactsMode.SKIPPED


def _rates_check(url: str) -> dg.AssetCheckEvaluation:
    result = dg.materialize(
        [cleaned_layer], resources={"postgres": PostgresResource(database_url=url)}
    )
    [evaluation] = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "exchange_rates_current"
    ]
    return evaluation


def test_stale_rates_warn_naming_the_currencies_and_since_when(shop: str, tmp_path: Path) -> None:
    newest = shipped_last_date()
    assert _rates_check(shop).passed  # the demo sells abroad only on days with rates

    with psycopg.connect(shop) as conn:
        _sell(conn, "USD", "120.00", datetime.now(BERLIN))
    stale = _rates_check(shop)
    today = datetime.now(BERLIN).date()
    assert not stale.passed
    assert stale.severity is dg.AssetCheckSeverity.WARN
    assert stale.description.startswith(
        f"USD: newest rate {newest}, {(today - newest).days} days before its newest sale ({today})"
    )
    assert "GBP" not in stale.description and "CHF" not in stale.description
    assert stale.metadata["stale_currencies"].value == 1

    path = tmp_path / "today.csv"
    path.write_text(f"Date,USD\n{today.isoformat()},1.1000\n")
    assert main(["rates", "load", str(path)]) == 0
    fresh = _rates_check(shop)
    assert fresh.passed
    assert fresh.metadata["newest_rate_per_currency"].value["USD"] == today.isoformat()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Date,USD\n2026-10-21,1.10\n2026-10-22,abc\n", "line 3, USD: 'abc' is not a positive"),
        ("Date,USD\n2026-10-21,-1.10\n", "line 2, USD: '-1.10' is not a positive rate"),
        ("Date,USD\n21.10.2026,1.10\n", "line 2: '21.10.2026' is not a date"),
        ("Date,EUR,USD\n2026-10-21,1,1.10\n", "has a EUR column"),
        ("Date,usd\n2026-10-21,1.10\n", "column 2's header 'usd' is not a currency code"),
        ("Date,USD\n2026-10-21,1.1\n2026-10-21,1.2\n", "line 3: 2026-10-21 appears twice"),
        ("currency,date,rate\nUSD,2026-10-21,1.1\n", "does not start with a Date column"),
        ("Date,USD\n", "holds no rates"),
    ],
)
def test_a_bad_rates_file_is_one_sentence_and_loads_nothing(
    shop: str, tmp_path: Path, capsys, content: str, message: str
) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(content)
    with psycopg.connect(shop) as conn:
        before = conn.execute("select count(*), sum(rate) from analytics.currency_rate").fetchone()
    assert main(["rates", "load", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("soleflip-bi: error: ") and message in err
    assert "\n" not in err and "Traceback" not in err
    with psycopg.connect(shop) as conn:
        after = conn.execute("select count(*), sum(rate) from analytics.currency_rate").fetchone()
    assert after == before


def test_a_missing_rates_file_is_one_sentence(shop: str, tmp_path: Path, capsys) -> None:
    assert main(["rates", "load", str(tmp_path / "nope.csv")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"soleflip-bi: error: {tmp_path / 'nope.csv'} is not a file"
    )


def test_pandas_merge_asof_gives_every_orders_euros(shop: str) -> None:
    """The rule recomputed from the raw orders and ECB's file itself, with pandas: the
    last rate on or before each sale's Berlin date (merge_asof, backward)."""
    with psycopg.connect(shop) as conn:
        facts = _facts(conn)
        orders = pd.DataFrame(
            conn.execute(
                "select id::text, upper(trim(currency_code)), gross_sale, platform_fee, "
                'shipping_cost, net_proceeds, sold_at from sales."order" '
                "where id = any(%s::uuid[])",
                (list(facts),),
            ).fetchall(),
            columns=["id", "currency", "gross", "fee", "shipping", "net", "sold_at"],
        )
    recomputed = with_rates(orders)
    assert recomputed["rate"].notna().all()
    assert len(recomputed) == len(facts) > 900
    assert (recomputed["currency"] != "EUR").sum() > 100

    mismatches = []
    for row in recomputed.itertuples():
        fee = row.fee if row.fee is not None else Decimal(0)
        shipping = row.shipping if row.shipping is not None else Decimal(0)
        net = row.net if row.net is not None else row.gross - fee - shipping
        expected = tuple(_euros(x, row.rate) for x in (row.gross, fee, shipping, net))
        if facts[row.id][4:8] != expected or facts[row.id][3] != row.rate:
            mismatches.append((row.id, facts[row.id], expected, row.rate))
    assert mismatches == []


def _spread_is_exact(conn: psycopg.Connection) -> bool:
    """The day table holds, for every day from a currency's first rate to its last, the
    last rate on or before it, and nothing else."""
    return conn.execute(
        """
        select not exists (
            (select currency, day, rate from analytics.currency_rate_day
             except
             select r.currency, d::date, r.rate from analytics.currency_rate r
             cross join lateral generate_series(
                 r.rate_date,
                 coalesce((select min(n.rate_date) - 1 from analytics.currency_rate n
                           where n.currency = r.currency and n.rate_date > r.rate_date),
                          r.rate_date),
                 interval '1 day') d)
            union all
            (select r.currency, d::date, r.rate from analytics.currency_rate r
             cross join lateral generate_series(
                 r.rate_date,
                 coalesce((select min(n.rate_date) - 1 from analytics.currency_rate n
                           where n.currency = r.currency and n.rate_date > r.rate_date),
                          r.rate_date),
                 interval '1 day') d
             except
             select currency, day, rate from analytics.currency_rate_day))
        """
    ).fetchone()[0]


def test_two_loads_at_once_are_serialized(shop: str, tmp_path: Path) -> None:
    """A second writer of USD rates while the first has not committed: it waits for the
    first, then spreads the days with both writers' rates; it never fails on a key."""
    newest = shipped_last_date()
    path = tmp_path / "second.csv"
    path.write_text(f"Date,USD\n{newest + timedelta(days=3)},1.2000\n")
    outcome: dict[str, object] = {}
    with psycopg.connect(shop) as first:
        first.execute(
            "insert into analytics.currency_rate (currency, rate_date, rate, source) "
            "values ('USD', %s, 1.1000, 'shop')",
            (newest + timedelta(days=1),),
        )  # its trigger has spread USD's days: the transaction holds the rates' lock

        def second() -> None:
            with psycopg.connect(shop) as conn:
                try:
                    outcome["loaded"] = load_rates(conn, read_rates_file(path))
                except psycopg.Error as error:
                    outcome["error"] = error

        thread = threading.Thread(target=second)
        thread.start()
        with psycopg.connect(shop, autocommit=True) as watcher:
            deadline = time.monotonic() + 20
            while not watcher.execute(
                "select exists (select from pg_locks where not granted)"
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "the second load did not wait"
                assert thread.is_alive(), outcome
                time.sleep(0.05)
        first.commit()
        thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["loaded"].inserted == 1
    with psycopg.connect(shop) as conn:
        assert _spread_is_exact(conn)
        assert conn.execute(
            "select rate, rate_date from analytics.currency_rate_latest where currency = 'USD'"
        ).fetchone() == (Decimal("1.2000"), newest + timedelta(days=3))


def test_a_correction_waits_for_the_facts_however_long_no_refresh_runs(
    shop: str, tmp_path: Path
) -> None:
    """A correction logged three days ago (a weekend without refreshes, then another load)
    is still re-converted by the next maintenance, which then prunes what it consumed."""
    wednesday = date(2026, 10, 21)
    with psycopg.connect(shop) as conn:
        order = _sell(conn, "USD", "150.00", datetime(2026, 10, 21, 12, tzinfo=BERLIN))
        conn.commit()
        refresh_order_facts(conn)
        corrected = _rate(conn, "USD", wednesday) + Decimal("0.0100")
    (tmp_path / "correction.csv").write_text(f"Date,USD\n{wednesday},{corrected}\n")
    assert main(["rates", "load", str(tmp_path / "correction.csv")]) == 0
    with psycopg.connect(shop) as conn:
        conn.execute("update soleflip_bi.changed_rate set changed_at = now() - interval '3 days'")
        conn.commit()
    (tmp_path / "monday.csv").write_text("Date,GBP\n2026-10-26,0.8800\n")
    assert main(["rates", "load", str(tmp_path / "monday.csv")]) == 0
    with psycopg.connect(shop) as conn:
        assert conn.execute(
            "select array_agg(distinct (currency, rate_date)::text) from soleflip_bi.changed_rate"
        ).fetchone()[0] == ["(GBP,2026-10-26)", "(USD,2026-10-21)"]
        assert refresh_order_facts(conn).mode is FactsMode.INCREMENTAL
        assert _facts(conn)[order][3] == corrected
        assert conn.execute("select count(*) from soleflip_bi.changed_rate").fetchone()[0] == 0
        assert (
            conn.execute(
                "select count(*) from soleflip_bi.changed_row "
                "where xid < pg_snapshot_xmin(pg_current_snapshot())"
            ).fetchone()[0]
            == 0
        )
