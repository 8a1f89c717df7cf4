"""The templates in the shapes of Metabase's REST API (0.48+): cards, parameters, dashcards.

Export and push build the same payloads; they differ only in what stands for ids Metabase
assigns (database, fields, cards), which is passed in. Every id we choose ourselves
(template tags, dashboard parameters) is derived from names, so a second push produces
byte-identical payloads and has nothing to change.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from soleflip_bi.dashboards.model import Card, Chart, Dashboard, Display

# (view, column) -> what Metabase calls that field: its id, or a readable stand-in in exports.
FieldRef = Callable[[str, str], int | str]

_TAG_NAMESPACE = uuid.UUID("6f2c1d3e-5a4b-4c8d-9e0f-5b1e2d3c4a5f")


def managed_description(text: str, key: str) -> str:
    """The description with the marker that identifies the object on the next push."""
    marker = (
        f"Managed by soleflip-bi (`{key}`): changes made in Metabase are replaced "
        "by the next `soleflip-bi dashboards push`."
    )
    return f"{text}\n\n{marker}" if text else marker


def parameter_id(dashboard: Dashboard, slug: str) -> str:
    return hashlib.sha256(f"{dashboard.name}:{slug}".encode()).hexdigest()[:8]


def dashboard_parameters(dashboard: Dashboard) -> list[dict[str, Any]]:
    parameters = []
    for f in dashboard.filters:
        parameter: dict[str, Any] = {
            "id": parameter_id(dashboard, f.slug),
            "name": f.name,
            "slug": f.slug,
            "type": f.kind.value,
            "sectionId": f.kind.section_id,
        }
        if f.default is not None:
            parameter["default"] = f.default
        parameters.append(parameter)
    return parameters


def template_tags(dashboard: Dashboard, card: Card, field_ref: FieldRef) -> dict[str, Any]:
    tags: dict[str, Any] = {}
    for slug in card.filter_slugs:
        dashboard_filter = dashboard.filter(slug)
        tag: dict[str, Any] = {
            "id": str(uuid.uuid5(_TAG_NAMESPACE, f"{dashboard.card_key(card)}:{slug}")),
            "name": slug,
            "display-name": dashboard_filter.name,
        }
        if slug in card.field_filters:
            tag["type"] = "dimension"
            tag["dimension"] = ["field", field_ref(card.view, card.field_filters[slug]), None]
            tag["widget-type"] = dashboard_filter.kind.value
        else:
            tag["type"] = "text"
        tags[slug] = tag
    return tags


def visualization_settings(chart: Chart) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if chart.display in (Display.LINE, Display.BAR):
        settings = {"graph.dimensions": [chart.dimension], "graph.metrics": list(chart.metrics)}
    elif chart.display is Display.PIE:
        settings = {"pie.dimension": chart.dimension, "pie.metric": chart.metrics[0]}
    elif chart.display is Display.MAP:
        settings = {
            "map.type": "region",
            "map.region": "world_countries",
            "map.dimension": chart.dimension,
            "map.metric": chart.metrics[0],
        }
    return {**settings, **chart.settings}


def card_payload(
    dashboard: Dashboard,
    card: Card,
    *,
    database_id: int | None,
    collection_id: int | None,
    field_ref: FieldRef,
) -> dict[str, Any]:
    """Body of POST/PUT /api/card."""
    return {
        "name": card.title,
        "description": managed_description(card.description, dashboard.card_key(card)),
        "display": card.chart.display.value,
        "visualization_settings": visualization_settings(card.chart),
        "dataset_query": {
            "type": "native",
            "database": database_id,
            "native": {
                "query": dashboard.sql(card).strip(),
                "template-tags": template_tags(dashboard, card, field_ref),
            },
        },
        "collection_id": collection_id,
    }


def dashboard_payload(dashboard: Dashboard, collection_id: int | None) -> dict[str, Any]:
    """Body of POST /api/dashboard (and the non-dashcard part of PUT)."""
    return {
        "name": dashboard.title,
        "description": managed_description(dashboard.description, dashboard.name),
        "parameters": dashboard_parameters(dashboard),
        "collection_id": collection_id,
    }


def dashcard_payload(
    dashboard: Dashboard, card: Card, *, card_id: int, dashcard_id: int
) -> dict[str, Any]:
    """One entry of ``dashcards`` in PUT /api/dashboard/:id (negative id: a new dashcard)."""
    mappings = [
        {
            "parameter_id": parameter_id(dashboard, slug),
            "card_id": card_id,
            "target": [
                "dimension" if slug in card.field_filters else "variable",
                ["template-tag", slug],
            ],
        }
        for slug in card.filter_slugs
    ]
    return {
        "id": dashcard_id,
        "card_id": card_id,
        "row": card.layout.row,
        "col": card.layout.col,
        "size_x": card.layout.size_x,
        "size_y": card.layout.size_y,
        "parameter_mappings": mappings,
        "visualization_settings": {},
        "series": [],
    }
