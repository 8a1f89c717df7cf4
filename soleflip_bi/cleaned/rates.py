"""The exchange rates the cleaned layer converts with: loading them, and their freshness.

``analytics.currency_rate`` holds one rate per currency and day (units of the currency
per euro). A load writes only what differs: a new day is inserted, a corrected rate
updated, an equal one left alone, and a rate the file does not mention is kept (a file
may cover one month). Each written row is logged to ``soleflip_bi.changed_rate`` by the
table's triggers, so the next maintenance re-converts exactly the sales those rates apply
to (``facts.py``), and prunes the log once it has; the change-log stream ``rates`` makes
the source-changes sensor refresh every view in euros in one run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg

from soleflip_bi.sources.ecb_rates import RateFile, shipped_history

# A rate older than this many days before the newest sale of its currency is stale.
STALE_AFTER_DAYS = 7


@dataclass(frozen=True)
class RatesLoaded:
    source: str
    inserted: int
    changed: int
    unchanged: int
    currencies: list[str]
    first_date: date
    last_date: date

    def summary(self) -> str:
        return (
            f"{self.source}: {len(self.currencies)} currencies, {self.first_date} to "
            f"{self.last_date}; {self.inserted} new rates, {self.changed} changed, "
            f"{self.unchanged} unchanged"
        )


@dataclass(frozen=True)
class StaleRate:
    """A currency sold more than STALE_AFTER_DAYS days after its newest rate."""

    currency: str
    newest_rate: date
    newest_sale: date

    @property
    def days(self) -> int:
        return (self.newest_sale - self.newest_rate).days


def load_rates(conn: psycopg.Connection, rates: RateFile) -> RatesLoaded:
    """Write the rates of ``rates`` that are new or differ, in one transaction.

    Two loads at once (or a load and a DBA's update) are serialized by the table's
    trigger, which takes the advisory lock ``soleflip_bi:currency_rate`` after each
    statement: the second writer's spread of the days waits for the first to commit and
    then sees its rows. The lock is taken there
    and not before the insert, so a writer never holds it while waiting for rows another
    holds (no deadlock); ON CONFLICT compares with the committed rates either way."""
    with conn.transaction():
        conn.execute("drop table if exists pg_temp.soleflip_rate_load")
        conn.execute(
            "create temporary table soleflip_rate_load "
            "(currency text, rate_date date, rate numeric) on commit drop"
        )
        with conn.cursor().copy(
            "copy soleflip_rate_load (currency, rate_date, rate) from stdin"
        ) as copy:
            for rate in rates.rates:
                copy.write_row((rate.currency, rate.rate_date, rate.rate))
        written = conn.execute(
            """
            with written as (
                insert into analytics.currency_rate as r (currency, rate_date, rate, source)
                select currency, rate_date, rate, %s from soleflip_rate_load
                on conflict (currency, rate_date) do update
                    set rate = excluded.rate, source = excluded.source, loaded_at = now()
                    where r.rate <> excluded.rate
                returning (xmax = 0) as inserted
            )
            select count(*) filter (where inserted), count(*) filter (where not inserted)
            from written
            """,
            (rates.source,),
        ).fetchone()
    inserted, changed = int(written[0]), int(written[1])
    return RatesLoaded(
        rates.source,
        inserted,
        changed,
        len(rates.rates) - inserted - changed,
        rates.currencies,
        rates.first_date,
        rates.last_date,
    )


def load_shipped_rates_if_empty(conn: psycopg.Connection) -> RatesLoaded | None:
    """On set-up: the shipped ECB history, when the table holds no rate at all."""
    if conn.execute("select exists (select from analytics.currency_rate)").fetchone()[0]:
        return None
    return load_rates(conn, shipped_history())


def stale_rates(conn: psycopg.Connection) -> list[StaleRate]:
    """Currencies whose newest rate is more than STALE_AFTER_DAYS days older than their
    newest sale (read from the stored facts), oldest rate first."""
    rows = conn.execute(
        """
        with sold as (
            select currency_code as currency, max(sale_date) as newest_sale
            from analytics.order_facts where currency_code <> 'EUR' group by 1
        )
        select s.currency, r.newest_rate, s.newest_sale
        from sold s
        cross join lateral (select max(rate_date) as newest_rate from analytics.currency_rate
                            where currency = s.currency) r
        where s.newest_sale - r.newest_rate > %s
        order by r.newest_rate, s.currency
        """,
        (STALE_AFTER_DAYS,),
    ).fetchall()
    return [StaleRate(*row) for row in rows]


def newest_rates(conn: psycopg.Connection) -> dict[str, date]:
    """The newest rate day of each currency that has a sale."""
    rows = conn.execute(
        """
        select f.currency_code, max(r.rate_date)
        from (select distinct currency_code from analytics.order_facts
              where currency_code <> 'EUR') f
        join analytics.currency_rate r on r.currency = f.currency_code
        group by 1 order by 1
        """
    ).fetchall()
    return dict(rows)
