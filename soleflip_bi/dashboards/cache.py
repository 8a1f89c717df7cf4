"""Metabase's cached results of the cards that read a view, dropped after the view refreshes.

``POST /api/cache/invalidate?question=ID...`` exists from Metabase 0.50 (the code is in the
open-source tree, ``src/metabase/cache/api.clj``), but it answers 402 unless the instance
has a token with the "cache granular controls" feature: Pro and Enterprise only. So on
open-source Metabase a cached card shows the result it cached until its cache entry
expires (Admin > Performance: the default policy), and nothing outside Metabase can
shorten that; there the invalidation reports why it did nothing. Caching itself is the
setting ``enable-query-caching``; when it is off there is nothing to invalidate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from soleflip_bi.dashboards.ledger import managed_ids
from soleflip_bi.dashboards.templates import DASHBOARDS
from soleflip_bi.metabase.client import MetabaseError
from soleflip_bi.metabase.config import MetabaseConfig
from soleflip_bi.metabase.session import connect

CACHE_API_FROM = 50


@dataclass(frozen=True)
class Invalidation:
    card_ids: tuple[int, ...]  # the cards whose cached results were dropped
    message: str


def cards_reading(views: Iterable[str]) -> set[str]:
    """Keys of the cards whose SQL reads one of ``views``."""
    wanted = set(views)
    return {d.card_key(c) for d in DASHBOARDS for c in d.cards if c.view in wanted}


def invalidate_cards_reading(
    config: MetabaseConfig, database_url: str, views: Iterable[str]
) -> Invalidation:
    views = sorted(set(views))
    client, version = connect(config)
    if not version.at_least(CACHE_API_FROM):
        return Invalidation((), f"Metabase {version.tag} has no cache API (0.{CACHE_API_FROM}+)")
    if client.get("/api/session/properties").get("enable-query-caching") is False:
        return Invalidation((), "caching is off in Metabase (enable-query-caching): nothing to do")
    ids = managed_ids(database_url, config.url, "card")
    card_ids = tuple(sorted(ids[key] for key in cards_reading(views) if key in ids))
    if not card_ids:
        return Invalidation((), f"no pushed card reads {', '.join(views)}")
    try:
        client.post("/api/cache/invalidate", params={"question": list(card_ids)})
    except MetabaseError as exc:
        if exc.status == 402:
            return Invalidation(
                (),
                "this Metabase cannot drop cached results (POST /api/cache/invalidate needs "
                "Pro or Enterprise): cards show cached results until they expire",
            )
        if exc.status != 404:
            raise
        # 404 "Nothing to invalidate.": none of these cards had a cached result
        return Invalidation((), f"nothing was cached for the {len(card_ids)} cards reading "
                            f"{', '.join(views)}")  # fmt: skip
    return Invalidation(
        card_ids, f"dropped the cached results of {len(card_ids)} cards ({', '.join(views)})"
    )
