"""``soleflip-bi rates``: the exchange rates sales are converted at."""

from __future__ import annotations

import argparse

from soleflip_bi.cleaned.layer import ensure_cleaned_layer
from soleflip_bi.cleaned.rates import STALE_AFTER_DAYS, load_rates, newest_rates, stale_rates
from soleflip_bi.database.connection import connect
from soleflip_bi.sources.ecb_rates import read_rates_file, shipped_history


def register(commands: argparse._SubParsersAction) -> None:
    rates = commands.add_parser("rates", help="exchange rates: load ECB files, show freshness")
    sub = rates.add_subparsers(dest="action", required=True)
    load = sub.add_parser(
        "load",
        help="load rates in ECB format (eurofxref-hist.csv, eurofxref.csv, their .zip, or "
        "the shop's own file of that layout); without FILE, the shipped ECB history",
    )
    load.add_argument("file", nargs="?", help="the rates file; default: the shipped history")
    load.set_defaults(run=run_load)
    sub.add_parser(
        "status", help="the newest rate of each currency sold, and which are stale"
    ).set_defaults(run=run_status)


def run_load(args: argparse.Namespace) -> int:
    rates = read_rates_file(args.file) if args.file else shipped_history()
    with connect() as conn:
        _print_upgrade(ensure_cleaned_layer(conn))
        loaded = load_rates(conn, rates)
    print(f"loaded {loaded.summary()}")
    if loaded.inserted or loaded.changed:
        print(
            "  the source-changes sensor refreshes every view in euros in one run "
            "(without Dagster running: soleflip-bi views refresh --all)"
        )
    return 0


def _print_upgrade(notes: list[str] | None) -> None:
    for note in notes or []:
        print(note)


def run_status(_args: argparse.Namespace) -> int:
    with connect() as conn:
        _print_upgrade(ensure_cleaned_layer(conn))
        newest = newest_rates(conn)
        stale = {rate.currency: rate for rate in stale_rates(conn)}
    if not newest:
        print("no sale in a currency other than EUR")
        return 0
    for currency, day in newest.items():
        line = f"{currency}  newest rate {day}"
        if currency in stale:
            line += (
                f"  STALE: {stale[currency].days} days before its newest sale "
                f"({stale[currency].newest_sale}; more than {STALE_AFTER_DAYS} days)"
            )
        print(line)
    return 0
