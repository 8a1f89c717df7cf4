"""Make Metabase show the templates: one collection, its cards and dashboards, idempotently.

Managed objects are found by the marker in their description (``payload.managed_key``)
inside the managed collection, so titles can change without creating duplicates. Before
every PUT the desired state is compared with what Metabase returned; equal objects are
left alone, so a second push changes nothing.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from soleflip_bi.dashboards.client import MetabaseClient, MetabaseError
from soleflip_bi.dashboards.config import COLLECTION_NAME, MetabaseConfig, connection_details
from soleflip_bi.dashboards.model import Dashboard
from soleflip_bi.dashboards.payload import (
    card_payload,
    dashboard_payload,
    dashcard_payload,
    managed_key,
)
from soleflip_bi.dashboards.progress import Progress, PushFailed
from soleflip_bi.dashboards.sync import (
    DEFAULT_SYNC_TIMEOUT_SECONDS,
    SchemaSyncTimeout,
    ensure_database,
    field_ids,
)
from soleflip_bi.dashboards.templates import DASHBOARDS

COLLECTION_DESCRIPTION = (
    "Dashboards managed by soleflip-bi (`soleflip-bi dashboards push`); changes made here "
    "are replaced by the next push."
)
DASHCARD_LAYOUT = ("card_id", "row", "col", "size_x", "size_y")


@dataclass(frozen=True)
class PushReport:
    metabase_url: str
    database_id: int
    collection_id: int
    dashboard_ids: dict[str, int]
    progress: Progress

    def dashboard_url(self, name: str) -> str:
        return f"{self.metabase_url}/dashboard/{self.dashboard_ids[name]}"


def push_dashboards(
    config: MetabaseConfig,
    database_url: str,
    *,
    sync_timeout: float = DEFAULT_SYNC_TIMEOUT_SECONDS,
) -> PushReport:
    """Provision every template into the Metabase of ``config``; see the module docstring."""
    progress = Progress()
    client = MetabaseClient(config)
    try:
        client.login()
        details = connection_details(database_url)
        database_id, created = ensure_database(client, details, progress)
        fields = field_ids(
            client, database_id, needed_fields(), progress, sync_timeout, syncing=created
        )
        collection_id = ensure_collection(client, progress)
        managed = managed_objects(client, collection_id)
        dashboard_ids: dict[str, int] = {}
        for dashboard in DASHBOARDS:
            card_ids: dict[str, int] = {}
            for card in dashboard.cards:
                desired = card_payload(
                    dashboard,
                    card,
                    database_id=database_id,
                    collection_id=collection_id,
                    field_ref=lambda view, column: fields[(view, column)],
                )
                key = dashboard.card_key(card)
                card_ids[card.key] = _push_card(client, key, managed["card"], desired, progress)
            dashboard_ids[dashboard.name] = _push_dashboard(
                client, dashboard, collection_id, card_ids, managed["dashboard"], progress
            )
        _archive_stale(client, managed, progress)
    except (MetabaseError, SchemaSyncTimeout) as exc:
        raise PushFailed(exc, progress) from exc
    return PushReport(config.url, database_id, collection_id, dashboard_ids, progress)


def needed_fields() -> dict[str, set[str]]:
    """Per view the cards read, the columns their field filters point at."""
    needed: dict[str, set[str]] = {}
    for dashboard in DASHBOARDS:
        for card in dashboard.cards:
            needed.setdefault(card.view, set()).update(card.field_filters.values())
    return needed


def ensure_collection(client: MetabaseClient, progress: Progress) -> int:
    for collection in client.get("/api/collection"):
        if (
            collection.get("name") == COLLECTION_NAME
            and isinstance(collection.get("id"), int)
            and not collection.get("archived")
            and collection.get("personal_owner_id") is None
        ):
            progress.record("found", f"collection {COLLECTION_NAME!r} (id {collection['id']})")
            return collection["id"]
    created = client.post(
        "/api/collection",
        {"name": COLLECTION_NAME, "description": COLLECTION_DESCRIPTION, "parent_id": None},
    )
    progress.record("created", f"collection {COLLECTION_NAME!r} (id {created['id']})")
    return int(created["id"])


def managed_objects(client: MetabaseClient, collection_id: int) -> dict[str, dict[str, Any]]:
    """Cards and dashboards of the collection that carry our marker, by key."""
    listing = client.get(
        f"/api/collection/{collection_id}/items", params={"models": ["card", "dashboard"]}
    )
    items = listing["data"] if isinstance(listing, dict) else listing
    managed: dict[str, dict[str, Any]] = {"card": {}, "dashboard": {}}
    for item in sorted(items, key=lambda i: i["id"]):
        if item.get("model") not in managed:
            continue
        full = client.get(f"/api/{item['model']}/{item['id']}")
        key = managed_key(full.get("description"))
        if key is not None:
            managed[item["model"]].setdefault(key, full)
    return managed


def _push_card(
    client: MetabaseClient,
    key: str,
    existing_cards: Mapping[str, dict[str, Any]],
    desired: dict[str, Any],
    progress: Progress,
) -> int:
    existing = existing_cards.get(key)
    if existing is None:
        created = client.post("/api/card", desired)
        progress.record("created", f"card {key} (id {created['id']})")
        return int(created["id"])
    current = {**existing, "dataset_query": _legacy_native(existing.get("dataset_query"))}
    if _contains(current, desired):
        progress.record("unchanged", f"card {key}")
    else:
        client.put(f"/api/card/{existing['id']}", desired)
        progress.record("updated", f"card {key} (id {existing['id']})")
    return int(existing["id"])


def _push_dashboard(
    client: MetabaseClient,
    dashboard: Dashboard,
    collection_id: int,
    card_ids: Mapping[str, int],
    existing_dashboards: Mapping[str, dict[str, Any]],
    progress: Progress,
) -> int:
    body = dashboard_payload(dashboard, collection_id)
    existing = existing_dashboards.get(dashboard.name)
    created = existing is None
    if existing is None:
        existing = {**client.post("/api/dashboard", body), "dashcards": []}
        progress.record("created", f"dashboard {dashboard.name} (id {existing['id']})")
    current = existing.get("dashcards") or []
    dashcard_ids = {dc["card_id"]: dc["id"] for dc in current if dc.get("card_id")}
    new_ids = itertools.count(-1, -1)
    dashcards = [
        dashcard_payload(
            dashboard,
            card,
            card_id=card_ids[card.key],
            dashcard_id=dashcard_ids.get(card_ids[card.key]) or next(new_ids),
        )
        for card in dashboard.cards
    ]
    if _contains(existing, body) and _same_dashcards(current, dashcards):
        progress.record("unchanged", f"dashboard {dashboard.name}")
    else:
        client.put(f"/api/dashboard/{existing['id']}", {**body, "dashcards": dashcards})
        progress.record(
            "laid out" if created else "updated",
            f"dashboard {dashboard.name} (id {existing['id']}): {len(dashcards)} cards",
        )
    return int(existing["id"])


def _archive_stale(
    client: MetabaseClient, managed: Mapping[str, Mapping[str, Any]], progress: Progress
) -> None:
    """Archive managed objects whose template is gone (Metabase keeps them restorable)."""
    wanted = {
        "card": {d.card_key(c) for d in DASHBOARDS for c in d.cards},
        "dashboard": {d.name for d in DASHBOARDS},
    }
    for kind in ("dashboard", "card"):
        for key, obj in managed[kind].items():
            if key not in wanted[kind]:
                client.put(f"/api/{kind}/{obj['id']}", {"archived": True})
                progress.record("archived", f"{kind} {key} (id {obj['id']})")


def _contains(actual: Any, desired: Any) -> bool:
    """Whether Metabase's object already holds everything we send (it adds keys of its own)."""
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(
            _contains(actual.get(key), value) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(desired)
            and all(map(_contains, actual, desired))
        )
    return actual == desired


def _same_dashcards(current: list[dict[str, Any]], desired: list[dict[str, Any]]) -> bool:
    def shape(dashcard: dict[str, Any]) -> tuple[Any, ...]:
        mappings = sorted(
            # newer versions append an options map to the target; the first two items decide
            json.dumps([m.get("parameter_id"), m.get("card_id"), m.get("target", [])[:2]])
            for m in dashcard.get("parameter_mappings") or []
        )
        return (*(dashcard.get(key) for key in DASHCARD_LAYOUT), mappings)

    return sorted(map(shape, current), key=repr) == sorted(map(shape, desired), key=repr)


def _legacy_native(dataset_query: Any) -> Any:
    """A native query in the legacy shape, also when Metabase returns the MBQL 5 ``stages`` one."""
    if not isinstance(dataset_query, dict) or "stages" not in dataset_query:
        return dataset_query
    stage = (dataset_query.get("stages") or [{}])[0]
    return {
        "type": "native",
        "database": dataset_query.get("database"),
        "native": {"query": stage.get("native"), "template-tags": stage.get("template-tags")},
    }
