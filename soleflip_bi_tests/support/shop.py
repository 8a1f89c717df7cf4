"""A shop to test against: the source schema with demo data, change capture installed and
the load recorded, and (unless asked otherwise) every view built, as a refresh run does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from soleflip_bi.capture.install import install_change_capture, record_reload
from soleflip_bi.cleaned.facts import refresh_order_facts
from soleflip_bi.cleaned.layer import apply_cleaned_layer
from soleflip_bi.sources.demo import load_demo
from soleflip_bi.views.materialize import RefreshResult, materialize_view
from soleflip_bi.views.registry import VIEWS
from soleflip_bi_tests.support.databases import new_database

DEMO_ORDERS = 1106
DEMO_SEED = 42


def stock_shop(
    url: str, orders: int = DEMO_ORDERS, seed: int = DEMO_SEED, views: bool = True
) -> str:
    """Fill the database at ``url`` with demo data, change capture and (by default) views."""
    with psycopg.connect(url) as conn:
        load_demo(conn, orders=orders, seed=seed)
        install_change_capture(conn)
        record_reload(conn)
    if views:
        build_all_views(url)
    return url


@contextmanager
def new_shop(orders: int = DEMO_ORDERS, seed: int = DEMO_SEED, views: bool = True) -> Iterator[str]:
    """A database of its own holding a stocked shop; dropped afterwards."""
    with new_database("soleflip_demo") as url:
        yield stock_shop(url, orders, seed, views)


def build_all_views(url: str) -> dict[str, RefreshResult]:
    """What a refresh run does, without Dagster: the cleaned layer, then every view."""
    with psycopg.connect(url) as conn:
        apply_cleaned_layer(conn)
        refresh_order_facts(conn)
        return {spec.name: materialize_view(conn, spec) for spec in VIEWS}
