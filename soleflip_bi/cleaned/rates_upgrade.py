"""The upgrade from an older release's exchange rates: one fixed rate per currency.

That table (``analytics.currency_rate (currency_code, rate_to_reporting)``, euros per unit
of the currency) becomes rates by day, in the cleaned layer's transaction:

* a currency ECB quotes takes ECB's daily rates from the shipped history (the point of
  rates by day); its old fixed rate is reported beside ECB's newest;
* a currency ECB does not quote keeps the shop's rate, as units per euro with source
  ``shop``, dated 1999-01-01 (the euro's first day) so that it applies, as it did, to every
  sale before the shop loads rates of its own for it;
* a row that is not a currency code (``^[A-Z]{3}$`` once trimmed and upper-cased) cannot be
  kept and is reported by value; EUR needs no rate.

Nothing is dropped with CASCADE (SPEC §4). The old table is dropped by name once the
cleaned layer's own views that read it are (they are made again from the new tables); an
object of anyone else's that reads it stops the upgrade with one sentence naming it, and
nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Context, Decimal

import psycopg
from psycopg import sql

FIXED_SINCE = date(1999, 1, 1)
SHOP_SOURCE = "shop"


class RatesUpgradeBlocked(Exception):
    """Someone else's object reads the old rates table."""


@dataclass(frozen=True)
class FixedRates:
    """The rows of the old table: currency as written -> euros per unit."""

    rows: dict[str, Decimal]


@dataclass(frozen=True)
class RatesUpgrade:
    # currency -> (old fixed euros per unit, ECB's newest units per euro, its day)
    replaced: dict[str, tuple[Decimal, Decimal, date]] = field(default_factory=dict)
    # currency -> units per euro, kept with source 'shop' from FIXED_SINCE
    kept: dict[str, Decimal] = field(default_factory=dict)
    # rows that are not a currency code, as written
    refused: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        """What the upgrade changed, one line per currency, for the log and the console."""
        lines = ["analytics.currency_rate: one fixed rate per currency became rates by day"]
        for currency, (fixed, ecb, day) in sorted(self.replaced.items()):
            lines.append(
                f"{currency}: the fixed rate ({fixed} EUR per {currency}, "
                f"{_per_euro(fixed)} per euro) gave way to ECB's daily rates "
                f"({ecb} per euro on {day})"
            )
        for currency, rate in sorted(self.kept.items()):
            lines.append(
                f"{currency}: ECB does not quote it; the shop's rate {rate} per euro is kept "
                f"(source '{SHOP_SOURCE}', from {FIXED_SINCE})"
            )
        for value in self.refused:
            lines.append(
                f"{value!r}: not a currency code, not kept; its orders are rejected until "
                "`soleflip-bi rates load` brings a rate for their currency"
            )
        return lines


def take_fixed_rates(conn: psycopg.Connection, own_views: tuple[str, ...]) -> FixedRates | None:
    """Read the old table and drop it (by name, with the cleaned layer's own views in
    ``own_views`` that read it), in the caller's transaction; None when there is none."""
    old = conn.execute(
        "select to_regclass('analytics.currency_rate') from information_schema.columns "
        "where table_schema = 'analytics' and table_name = 'currency_rate' "
        "and column_name = 'rate_to_reporting'"
    ).fetchone()
    if old is None:
        return None
    others = [name for name in _readers(conn) if name.removeprefix("analytics.") not in own_views]
    if others:
        raise RatesUpgradeBlocked(
            "analytics.currency_rate holds one fixed rate per currency and cannot become "
            f"rates by day while {', '.join(others)} read{'s' if len(others) == 1 else ''} "
            "it: change or drop that first (nothing was changed)"
        )
    rows = conn.execute(
        "select currency_code, rate_to_reporting from analytics.currency_rate"
    ).fetchall()
    ours = [name for name in _readers(conn) if name.removeprefix("analytics.") in own_views]
    if ours:
        conn.execute(
            sql.SQL("drop view if exists {}").format(
                sql.SQL(", ").join(sql.Identifier("analytics", v) for v in own_views)
            )
        )
    conn.execute("drop table analytics.currency_rate")
    return FixedRates({str(code): Decimal(rate) for code, rate in rows})


def keep_shop_rates(conn: psycopg.Connection, fixed: FixedRates) -> RatesUpgrade:
    """Once the new table holds ECB's history: write the shop's rates ECB does not quote,
    and say what became of every old row (in the caller's transaction)."""
    newest = {
        currency: (rate, day)
        for currency, rate, day in conn.execute(
            "select distinct on (currency) currency, rate, rate_date from analytics.currency_rate "
            "order by currency, rate_date desc"
        ).fetchall()
    }
    upgrade = RatesUpgrade()
    for written, euros in sorted(fixed.rows.items()):
        currency = written.strip().upper()
        if currency == "EUR":
            continue
        if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            upgrade.refused.append(written)
        elif currency in newest:
            upgrade.replaced[currency] = (euros, *newest[currency])
        else:
            upgrade.kept[currency] = _per_euro(euros)
    for currency, rate in upgrade.kept.items():
        conn.execute(
            "insert into analytics.currency_rate (currency, rate_date, rate, source) "
            "values (%s, %s, %s, %s)",
            (currency, FIXED_SINCE, rate, SHOP_SOURCE),
        )
    return upgrade


def _per_euro(euros_per_unit: Decimal) -> Decimal:
    """Units per euro, to ten significant digits (ECB quotes five or six)."""
    return Context(prec=10).divide(Decimal(1), euros_per_unit).normalize()


def _readers(conn: psycopg.Connection) -> list[str]:
    """Views, materialized views and tables (foreign keys) that depend on the old table."""
    rows = conn.execute(
        """
        select distinct dependent::regclass::text from (
            select r.ev_class as dependent from pg_depend d
            join pg_rewrite r on r.oid = d.objid
            where d.classid = 'pg_rewrite'::regclass
              and d.refobjid = 'analytics.currency_rate'::regclass
              and r.ev_class <> 'analytics.currency_rate'::regclass
            union
            select c.conrelid from pg_constraint c
            where c.confrelid = 'analytics.currency_rate'::regclass
        ) found order by 1
        """
    ).fetchall()
    return [row[0] for row in rows]
