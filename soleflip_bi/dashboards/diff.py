"""What differs between a managed object in Metabase and its template, field by field.

Metabase answers with keys of its own and, from 0.57, with queries in MBQL 5 (``stages``,
field refs ``["field", {options}, id]``, parameter targets with a third options item).
Both sides are brought to one shape first (``comparable_card`` / ``comparable_dashcards``),
so that the comparison does not depend on the version that answered.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

DASHCARD_LAYOUT = ("card_id", "row", "col", "size_x", "size_y")
# What a push's PUT replaces: an edit elsewhere (moving a card into its dashboard, say)
# is never lost by a push.
CARD_SURFACE = ("name", "description", "display", "visualization_settings", "dataset_query",
                "collection_id")  # fmt: skip
DASHBOARD_SURFACE = ("name", "description", "parameters", "collection_id")


def differences(actual: Any, desired: Any, path: str = "") -> list[str]:
    """Dotted paths of what ``desired`` sets that ``actual`` does not hold (extra keys of
    ``actual`` are Metabase's own and do not count)."""
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return [path or "(object)"]
        found: list[str] = []
        for key, value in desired.items():
            found += differences(actual.get(key), value, f"{path}.{key}" if path else key)
        return found
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(actual) != len(desired):
            return [path]
        found = []
        for position, (a, d) in enumerate(zip(actual, desired, strict=True)):
            found += differences(a, d, f"{path}[{position}]")
        return [path] if found else []
    return [] if actual == desired else [path]


def field_id(reference: Any) -> Any:
    """The field id of a field reference in either shape: legacy ``["field", 42, null]``,
    MBQL 5 ``["field", {"lib/uuid": ...}, 42]``; anything else is returned as it is."""
    if isinstance(reference, list) and len(reference) == 3 and reference[0] == "field":
        _, first, second = reference
        if isinstance(first, int):
            return first
        if isinstance(second, int):
            return second
    return reference


def comparable_query(dataset_query: Any) -> Any:
    """A native query as ``{"type", "database", "native": {"query", "template-tags"}}`` with
    each dimension reduced to its field id, whichever shape Metabase returned."""
    if not isinstance(dataset_query, dict):
        return dataset_query
    if "stages" in dataset_query:
        stage = (dataset_query.get("stages") or [{}])[0]
        native = {"query": stage.get("native"), "template-tags": stage.get("template-tags")}
        query = {"type": "native", "database": dataset_query.get("database"), "native": native}
    else:
        query = {**dataset_query, "native": dict(dataset_query.get("native") or {})}
    tags = query["native"].get("template-tags")
    if isinstance(tags, dict):
        query["native"]["template-tags"] = {
            name: _comparable_tag(tag) for name, tag in tags.items()
        }
    return query


def _comparable_tag(tag: Any) -> Any:
    if not isinstance(tag, dict) or "dimension" not in tag:
        return tag
    return {**tag, "dimension": field_id(tag["dimension"])}


def comparable_card(card: dict[str, Any]) -> dict[str, Any]:
    return {**card, "dataset_query": comparable_query(card.get("dataset_query"))}


def comparable_dashcards(dashcards: list[dict[str, Any]]) -> list[str]:
    """Each dashcard's place and filter wiring, as sorted text (order and ids of Metabase's
    own do not matter; MBQL 5 appends an options map to each target, the first two decide)."""

    def shape(dashcard: dict[str, Any]) -> str:
        mappings = sorted(
            json.dumps([m.get("parameter_id"), m.get("card_id"), (m.get("target") or [])[:2]])
            for m in dashcard.get("parameter_mappings") or []
        )
        return json.dumps([*(dashcard.get(key) for key in DASHCARD_LAYOUT), mappings])

    return sorted(map(shape, dashcards))


def surface_hash(model: str, obj: dict[str, Any]) -> str:
    """A hash of what a push would replace of ``obj``, in the version-independent shape."""
    if model == "card":
        card = comparable_card(obj)
        surface: Any = {key: card.get(key) for key in CARD_SURFACE}
    else:
        surface = {key: obj.get(key) for key in DASHBOARD_SURFACE}
        surface["dashcards"] = sorted(
            json.dumps(
                [
                    *(dc.get(key) for key in DASHCARD_LAYOUT),
                    sorted(
                        json.dumps([m.get("parameter_id"), (m.get("target") or [])[:2]])
                        for m in dc.get("parameter_mappings") or []
                    ),
                    dc.get("visualization_settings") or {},
                    [s.get("id") if isinstance(s, dict) else s for s in dc.get("series") or []],
                ],
                sort_keys=True,
            )
            for dc in obj.get("dashcards") or []
        )
    text = json.dumps(surface, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
