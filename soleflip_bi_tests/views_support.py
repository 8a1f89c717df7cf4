"""Helpers the view tests share: build every view in a database, read results."""

from __future__ import annotations

import psycopg

from soleflip_bi.cleaned.facts import refresh_order_facts
from soleflip_bi.cleaned.layer import apply_cleaned_layer
from soleflip_bi.views.materialize import RefreshResult, materialize_view
from soleflip_bi.views.registry import VIEWS


def build_all_views(url: str) -> dict[str, RefreshResult]:
    """What a refresh run does, without Dagster: the cleaned layer, then every view."""
    with psycopg.connect(url) as conn:
        apply_cleaned_layer(conn)
        refresh_order_facts(conn)
        return {spec.name: materialize_view(conn, spec) for spec in VIEWS}


def scalar(url: str, query: str, params: tuple = ()) -> object:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()[0]
