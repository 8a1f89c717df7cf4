"""The templates as JSON files, one per dashboard, for review, diffing or a manual import.

Each file has the shape of Metabase's ``GET /api/dashboard/:id`` (dashcards with their card
embedded). Ids Metabase would assign are placeholders: cards and dashcards have negative
ids, ``database`` is null and a field filter names its field ``analytics.<view>.<column>``;
``soleflip-bi dashboards push`` resolves all of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from soleflip_bi.dashboards.model import Dashboard
from soleflip_bi.dashboards.payload import card_payload, dashboard_payload, dashcard_payload
from soleflip_bi.dashboards.templates import DASHBOARDS
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA

MINIMUM_METABASE_VERSION = "0.48"  # PUT /api/dashboard/:id with dashcards


def field_name(view: str, column: str) -> str:
    return f"{ANALYTICS_SCHEMA}.{view}.{column}"


def dashboard_document(dashboard: Dashboard) -> dict[str, Any]:
    document = dashboard_payload(dashboard, collection_id=None)
    dashcards = []
    for position, card in enumerate(dashboard.cards, start=1):
        dashcard = dashcard_payload(dashboard, card, card_id=-position, dashcard_id=-position)
        card_body = card_payload(
            dashboard, card, database_id=None, collection_id=None, field_ref=field_name
        )
        dashcards.append({**dashcard, "card": {"id": -position, **card_body}})
    document["dashcards"] = dashcards
    document["soleflip_bi"] = {
        "dashboard": dashboard.name,
        "minimum_metabase_version": MINIMUM_METABASE_VERSION,
        "placeholders": "negative ids, null database and analytics.<view>.<column> field "
        "references are resolved by `soleflip-bi dashboards push`",
    }
    return document


class ExportFailed(OSError):
    """The export directory cannot be created or written."""


def export_dashboards(directory: Path) -> list[Path]:
    """Write ``<dashboard>.json`` for every template into ``directory``; return the paths."""
    paths = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for dashboard in DASHBOARDS:
            path = directory / f"{dashboard.name}.json"
            path.write_text(json.dumps(dashboard_document(dashboard), indent=2) + "\n")
            paths.append(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = exc.filename or directory
        raise ExportFailed(f"cannot write the dashboards to {where}: {reason}") from exc
    return paths
