"""What Metabase holds of ours: the version, the managed collection and managed objects.

Managed objects carry the marker of ``metabase/managed.py`` in their description. They are
looked for in the managed collection, including the cards Metabase 0.53+ can move into a
dashboard ("dashboard questions", hidden from the collection's items unless asked for),
and on the managed dashboards themselves, wherever those cards have gone since.
"""

from __future__ import annotations

from typing import Any

from soleflip_bi.dashboards.diff import surface_hash
from soleflip_bi.metabase.client import MetabaseClient
from soleflip_bi.metabase.config import COLLECTION_NAME
from soleflip_bi.metabase.managed import managed_key
from soleflip_bi.metabase.versions import DASHBOARD_QUESTIONS_FROM, MetabaseVersion

MODELS = ("card", "dashboard")
Managed = dict[str, dict[str, dict[str, Any]]]  # model -> key -> the object as Metabase has it


def find_collection(client: MetabaseClient) -> dict[str, Any] | None:
    """The managed collection: named so, at the top level, nobody's personal one (nor inside
    one: those have a ``location`` below a personal collection), not archived."""
    for collection in client.get("/api/collection"):
        if (
            collection.get("name") == COLLECTION_NAME
            and isinstance(collection.get("id"), int)
            and collection.get("location", "/") == "/"
            and collection.get("personal_owner_id") is None
            and not collection.get("is_personal")
            and not collection.get("archived")
        ):
            return collection
    return None


def managed_objects(
    client: MetabaseClient, collection_id: int | None, version: MetabaseVersion
) -> Managed:
    """Cards and dashboards that carry our marker, by key (the oldest one of a key wins:
    duplicating a card in Metabase copies its description)."""
    managed: Managed = {model: {} for model in MODELS}
    if collection_id is None:
        return managed
    params: dict[str, Any] = {"models": list(MODELS)}
    if version.at_least(DASHBOARD_QUESTIONS_FROM):
        params["show_dashboard_questions"] = "true"
    listing = client.get(f"/api/collection/{collection_id}/items", params=params)
    items = listing["data"] if isinstance(listing, dict) else listing
    seen: set[tuple[str, int]] = set()
    found: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        if item.get("model") in MODELS and (item["model"], item["id"]) not in seen:
            seen.add((item["model"], item["id"]))
            found.append((item["model"], client.get(f"/api/{item['model']}/{item['id']}")))
    dashboards = [obj for model, obj in found if model == "dashboard" and _key(obj)]
    for dashboard in dashboards:
        for dashcard in dashboard.get("dashcards") or []:
            card_id = dashcard.get("card_id")
            if isinstance(card_id, int) and ("card", card_id) not in seen:
                seen.add(("card", card_id))
                found.append(("card", client.get(f"/api/card/{card_id}")))
    for model, obj in sorted(found, key=lambda pair: pair[1]["id"]):
        key = _key(obj)
        if key is not None and not obj.get("archived"):
            managed[model].setdefault(key, obj)
    return managed


def edit_stamp(model: str, obj: dict[str, Any]) -> str:
    """``<created_at>|<last saved>|<what a push replaces>``.

    The time the object was saved last (its last revision, which Metabase shows as "edited
    by ...", else ``updated_at``) and a hash of the fields a push writes
    (``diff.surface_hash``). ``created_at`` tells the object from another one with the
    same id in a Metabase set up anew at the same address.
    """
    info = obj.get("last-edit-info") or {}
    saved = info.get("timestamp") or obj.get("updated_at") or ""
    return f"{obj.get('created_at') or ''}|{saved}|{surface_hash(model, obj)}"


def edited_since(recorded: str, current: str) -> bool:
    """Saved since ``recorded`` and changed in what a push would replace: an edit by a
    person (a save with a revision) that the push would undo. A change without a save
    (a migration, say) is put back; a save that changed nothing of ours is no edit."""
    then, now = recorded.split("|"), current.split("|")
    if len(then) != 3 or then[0] != now[0]:
        return False  # recorded in another shape, or another object with the same id
    return then[1] != now[1] and then[2] != now[2]


def editor(obj: dict[str, Any]) -> str:
    """Who saved the object last and when, as Metabase tells it."""
    info = obj.get("last-edit-info") or {}
    name = " ".join(p for p in (info.get("first_name"), info.get("last_name")) if p)
    who = name or info.get("email") or "someone"
    when = info.get("timestamp") or obj.get("updated_at") or "an unknown time"
    return f"{who} at {when}"


def _key(obj: dict[str, Any]) -> str | None:
    return managed_key(obj.get("description"))
