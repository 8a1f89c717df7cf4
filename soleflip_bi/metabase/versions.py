"""Which Metabase versions a push supports, and what each needs.

The version is read before anything else from ``GET /api/session/properties`` (public,
no session needed), whose ``version.tag`` is ``v0.50.3`` for the open-source edition and
``v1.50.3`` for the enterprise one; the second number is the release both share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# PUT /api/dashboard/:id takes ``dashcards`` from 0.47, but 0.47 ignores them when they come
# with the other dashboard fields, so a dashboard would stay empty: 0.48 is the oldest.
OLDEST_RELEASE = 48
API_KEYS_FROM = 49  # API keys (the X-API-Key header) arrived in Metabase 0.49
DASHBOARD_QUESTIONS_FROM = 53  # a card can live inside its dashboard (``dashboard_id``)
MBQL5_FROM = 57  # card queries are returned in MBQL 5 (``stages``)

# v0.50.3, v1.57.0, hotfixes v0.58.5.2, candidates v0.50.0-RC1: the second number counts
_TAG = re.compile(r"v?(\d+)\.(\d+)")


class UnsupportedMetabase(RuntimeError):
    """The Metabase answering is one a push cannot work with safely."""


@dataclass(frozen=True)
class MetabaseVersion:
    tag: str
    release: int | None  # the 50 of v0.50.3 / v1.50.3; None for a build without a version

    @classmethod
    def from_properties(cls, properties: Any) -> MetabaseVersion:
        version = properties.get("version") if isinstance(properties, dict) else None
        tag = str((version or {}).get("tag") or "unknown") if isinstance(version, dict) else ""
        match = _TAG.match(tag.strip())
        return cls(tag or "unknown", int(match.group(2)) if match else None)

    def at_least(self, release: int) -> bool:
        """A build without a version number (a developer build) is taken as the newest."""
        return self.release is None or self.release >= release

    def check(self, url: str, *, api_key: bool) -> None:
        if not self.at_least(OLDEST_RELEASE):
            raise UnsupportedMetabase(
                f"Metabase {self.tag} at {url} is older than 0.{OLDEST_RELEASE}, the oldest "
                "version dashboards push supports (before it, dashboards would stay empty); "
                "upgrade Metabase"
            )
        if api_key and not self.at_least(API_KEYS_FROM):
            raise UnsupportedMetabase(
                f"Metabase {self.tag} at {url} has no API keys (they arrived in "
                f"0.{API_KEYS_FROM}): unset METABASE_API_KEY and set METABASE_USER and "
                "METABASE_PASSWORD"
            )
