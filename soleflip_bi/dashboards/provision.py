"""Make Metabase show the templates: one collection, its cards and dashboards, idempotently.

A push first surveys Metabase without changing anything (``plan_dashboards`` stops there):
the version (refused below 0.48, API keys below 0.49), the connection, the managed
collection and the objects that carry our marker (``remote.py``), each compared field by
field with its template in a version-independent shape (``diff.py``). If any object it
would overwrite was edited in Metabase since the last push (``ledger.py``), it stops
before its first write unless forced. Then it creates what is missing, updates what
differs and archives what no template wants any more; equal objects are left alone, so a
second push makes no changing call.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from soleflip_bi.dashboards.ledger import Pushed, Stamps, record_stamps, recorded_stamps
from soleflip_bi.dashboards.model import Card, Dashboard
from soleflip_bi.dashboards.payload import card_payload, dashboard_payload, dashcard_payload
from soleflip_bi.dashboards.plan import (
    Change,
    EditedInMetabase,
    Plan,
    archive_change,
    card_change,
    dashboard_change,
    stamp_to_record,
)
from soleflip_bi.dashboards.progress import Progress, PushFailed
from soleflip_bi.dashboards.remote import (
    Managed,
    edit_stamp,
    find_collection,
    managed_objects,
)
from soleflip_bi.dashboards.sync import (
    DEFAULT_SYNC_TIMEOUT_SECONDS,
    SchemaSyncTimeout,
    details_differing,
    details_readable,
    ensure_database,
    field_ids,
    lookup_fields,
)
from soleflip_bi.dashboards.templates import DASHBOARDS
from soleflip_bi.metabase.client import MetabaseClient, MetabaseError
from soleflip_bi.metabase.config import (
    COLLECTION_NAME,
    DATABASE_NAME,
    MetabaseConfig,
    connection_details,
)
from soleflip_bi.metabase.session import connect, find_database
from soleflip_bi.metabase.versions import MetabaseVersion

COLLECTION_DESCRIPTION = (
    "Dashboards managed by soleflip-bi (`soleflip-bi dashboards push`); changes made here "
    "are replaced by the next push."
)
FieldIds = Mapping[tuple[str, str], int]


@dataclass(frozen=True)
class PushReport:
    metabase_url: str
    version: str
    database_id: int
    collection_id: int
    dashboard_ids: dict[str, int]
    progress: Progress

    def dashboard_url(self, name: str) -> str:
        return f"{self.metabase_url}/dashboard/{self.dashboard_ids[name]}"


@dataclass
class Survey:
    """Metabase as it is, read without changing anything."""

    version: MetabaseVersion
    details: dict[str, Any]
    database: tuple[int, dict[str, Any]] | None
    collection: dict[str, Any] | None
    managed: Managed
    stamps: Stamps
    fields: dict[tuple[str, str], int] = field(default_factory=dict)

    def plan(self) -> Plan:
        changes: list[Change] = []
        name = repr(DATABASE_NAME)
        if self.database is None:
            changes.append(Change("create", "database connection", name))
        else:
            database_id, stored = self.database
            readable = details_readable(stored)
            differing = tuple(details_differing(stored, self.details)) if readable else ()
            action = "update" if differing else "unchanged"
            changes.append(Change(action, "database connection", name, database_id, differing))
        if self.collection is None:
            changes.append(Change("create", "collection", repr(COLLECTION_NAME)))
        else:
            changes.append(
                Change("unchanged", "collection", repr(COLLECTION_NAME), self.collection["id"])
            )
        database_id = self.database[0] if self.database else None
        collection_id = self.collection["id"] if self.collection else None
        placeholders = itertools.count(-1, -1)
        for dashboard in DASHBOARDS:
            card_ids: dict[str, int] = {}
            for card in dashboard.cards:
                key = dashboard.card_key(card)
                existing = self.managed["card"].get(key)
                desired = card_payload(
                    dashboard,
                    card,
                    database_id=database_id,
                    collection_id=collection_id,
                    field_ref=lambda view, column: self.fields.get((view, column), -1),
                )
                filtered = card.field_filters.values()
                unsynced = any((card.view, c) not in self.fields for c in filtered)
                changes.append(card_change(key, existing, desired, self.stamps, unsynced))
                card_ids[card.key] = int(existing["id"]) if existing else next(placeholders)
            existing = self.managed["dashboard"].get(dashboard.name)
            body, dashcards = _dashboard_bodies(dashboard, collection_id, card_ids, existing)
            changes.append(dashboard_change(dashboard.name, existing, body, dashcards, self.stamps))
        for model, key, obj in stale(self.managed):
            changes.append(archive_change(model, key, obj, self.stamps))
        return Plan(tuple(changes))


def plan_dashboards(config: MetabaseConfig, database_url: str) -> Plan:
    """What ``push_dashboards`` would do now; changes nothing in Metabase or the database."""
    try:
        client, version = connect(config)
        return survey(client, version, config, database_url).plan()
    except MetabaseError as exc:
        raise PushFailed(exc, Progress(), verb="plan") from exc


def survey(
    client: MetabaseClient, version: MetabaseVersion, config: MetabaseConfig, database_url: str
) -> Survey:
    details = connection_details(database_url)
    database = find_database(client)
    collection = find_collection(client)
    state = Survey(
        version=version,
        details=details,
        database=database,
        collection=collection,
        managed=managed_objects(client, collection["id"] if collection else None, version),
        stamps=recorded_stamps(database_url, config.url),
    )
    if database is not None:
        state.fields = lookup_fields(client, database[0], needed_fields())[0]
    return state


def push_dashboards(
    config: MetabaseConfig,
    database_url: str,
    *,
    force: bool = False,
    sync_timeout: float = DEFAULT_SYNC_TIMEOUT_SECONDS,
) -> PushReport:
    """Provision every template into the Metabase of ``config``; see the module docstring."""
    progress = Progress()
    stamps: Pushed = {}
    finished = False
    try:
        client, version = connect(config)
        state = survey(client, version, config, database_url)
        conflicts = state.plan().conflicts
        if conflicts and not force:
            raise EditedInMetabase(conflicts)
        database_id, created = ensure_database(client, state.details, progress)
        fields = field_ids(
            client, database_id, needed_fields(), progress, sync_timeout, syncing=created
        )
        if fields != state.fields:  # compared again, now that every field is known
            state.fields = fields
            conflicts = state.plan().conflicts
            if conflicts and not force:
                raise EditedInMetabase(conflicts)
        collection_id = _ensure_collection(client, state.collection, progress)
        dashboard_ids: dict[str, int] = {}
        for dashboard in DASHBOARDS:
            card_ids = {
                card.key: _push_card(
                    client,
                    dashboard,
                    card,
                    (database_id, collection_id),
                    fields,
                    state,
                    stamps,
                    progress,
                )
                for card in dashboard.cards
            }
            dashboard_ids[dashboard.name] = _push_dashboard(
                client, dashboard, collection_id, card_ids, state, stamps, progress
            )
        for model, key, obj in stale(state.managed):
            client.put(f"/api/{model}/{obj['id']}", {"archived": True})
            progress.record("archived", f"{model} {key} (id {obj['id']})")
        finished = True
    except (MetabaseError, SchemaSyncTimeout) as exc:
        raise PushFailed(exc, progress) from exc
    finally:
        if stamps or finished:
            record_stamps(database_url, config.url, stamps, complete=finished)
    return PushReport(config.url, version.tag, database_id, collection_id, dashboard_ids, progress)


def needed_fields() -> dict[str, set[str]]:
    """Per view the cards read, the columns their field filters point at."""
    needed: dict[str, set[str]] = {}
    for dashboard in DASHBOARDS:
        for card in dashboard.cards:
            needed.setdefault(card.view, set()).update(card.field_filters.values())
    return needed


def stale(managed: Managed) -> list[tuple[str, str, dict[str, Any]]]:
    """Managed objects whose template is gone (archived: Metabase keeps them restorable)."""
    wanted = {
        "card": {d.card_key(c) for d in DASHBOARDS for c in d.cards},
        "dashboard": {d.name for d in DASHBOARDS},
    }
    return [
        (model, key, obj)
        for model in ("dashboard", "card")
        for key, obj in managed[model].items()
        if key not in wanted[model]
    ]


def _ensure_collection(
    client: MetabaseClient, collection: dict[str, Any] | None, progress: Progress
) -> int:
    if collection is not None:
        progress.record("found", f"collection {COLLECTION_NAME!r} (id {collection['id']})")
        return int(collection["id"])
    created = client.post(
        "/api/collection",
        {"name": COLLECTION_NAME, "description": COLLECTION_DESCRIPTION, "parent_id": None},
    )
    progress.record("created", f"collection {COLLECTION_NAME!r} (id {created['id']})")
    return int(created["id"])


def _push_card(
    client: MetabaseClient,
    dashboard: Dashboard,
    card: Card,
    ids: tuple[int, int],
    fields: FieldIds,
    state: Survey,
    stamps: Pushed,
    progress: Progress,
) -> int:
    key = dashboard.card_key(card)
    database_id, collection_id = ids
    desired = card_payload(
        dashboard,
        card,
        database_id=database_id,
        collection_id=collection_id,
        field_ref=lambda view, column: fields[(view, column)],
    )
    existing = state.managed["card"].get(key)
    change = card_change(key, existing, desired, {})
    if existing is None:
        card_id = int(client.post("/api/card", desired)["id"])
        progress.record("created", f"card {key} (id {card_id})")
    elif change.action == "update":
        card_id = int(existing["id"])
        client.put(f"/api/card/{card_id}", desired)
        progress.record("updated", f"card {key} (id {card_id}): {', '.join(change.fields)}")
    else:
        card_id = int(existing["id"])
        progress.record("unchanged", f"card {key}")
        stamps[("card", card_id)] = (key, stamp_to_record("card", existing, state.stamps))
        return card_id
    stamps[("card", card_id)] = (key, edit_stamp("card", client.get(f"/api/card/{card_id}")))
    return card_id


def _push_dashboard(
    client: MetabaseClient,
    dashboard: Dashboard,
    collection_id: int,
    card_ids: Mapping[str, int],
    state: Survey,
    stamps: Pushed,
    progress: Progress,
) -> int:
    existing = state.managed["dashboard"].get(dashboard.name)
    created = existing is None
    if existing is None:
        body = dashboard_payload(dashboard, collection_id)
        existing = {**client.post("/api/dashboard", body), "dashcards": []}
        progress.record("created", f"dashboard {dashboard.name} (id {existing['id']})")
    dashboard_id = int(existing["id"])
    body, dashcards = _dashboard_bodies(dashboard, collection_id, card_ids, existing)
    change = dashboard_change(dashboard.name, existing, body, dashcards, {})
    if change.action == "unchanged":
        progress.record("unchanged", f"dashboard {dashboard.name}")
        kept = stamp_to_record("dashboard", existing, state.stamps)
        stamps[("dashboard", dashboard_id)] = (dashboard.name, kept)
        return dashboard_id
    client.put(f"/api/dashboard/{dashboard_id}", {**body, "dashcards": dashcards})
    if created:
        progress.record("laid out", f"dashboard {dashboard.name}: {len(dashcards)} cards")
    else:
        progress.record(
            "updated", f"dashboard {dashboard.name} (id {dashboard_id}): {', '.join(change.fields)}"
        )
    after = client.get(f"/api/dashboard/{dashboard_id}")
    stamps[("dashboard", dashboard_id)] = (dashboard.name, edit_stamp("dashboard", after))
    return dashboard_id


def _dashboard_bodies(
    dashboard: Dashboard,
    collection_id: int | None,
    card_ids: Mapping[str, int],
    existing: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The dashboard's own fields and its dashcards, keeping the ids of the dashcards that
    already show a card (negative ids are new ones, as PUT /api/dashboard/:id wants)."""
    current = (existing or {}).get("dashcards") or []
    dashcard_ids = {dc["card_id"]: dc["id"] for dc in current if dc.get("card_id")}
    new_ids: Callable[[], int] = itertools.count(-1, -1).__next__
    dashcards = [
        dashcard_payload(
            dashboard,
            card,
            card_id=card_ids[card.key],
            dashcard_id=dashcard_ids.get(card_ids[card.key]) or new_ids(),
        )
        for card in dashboard.cards
    ]
    return dashboard_payload(dashboard, collection_id), dashcards
