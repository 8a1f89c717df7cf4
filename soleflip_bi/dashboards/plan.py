"""What a push would do, object by object, with the fields that differ.

``dashboards plan`` prints it and changes nothing; ``dashboards push`` computes the same
changes first and refuses, before any write, to overwrite an object someone edited in
Metabase since the last push (unless ``--force``), then carries them out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from soleflip_bi.dashboards.diff import comparable_card, comparable_dashcards, differences
from soleflip_bi.dashboards.ledger import Stamps
from soleflip_bi.dashboards.remote import edit_stamp, edited_since, editor

PENDING = ("create", "update", "archive")


@dataclass(frozen=True)
class Change:
    action: str  # create, update, archive or unchanged
    model: str  # database connection, collection, card or dashboard
    key: str
    object_id: int | None = None
    fields: tuple[str, ...] = ()
    edited_by: str | None = None  # set when edited in Metabase since the last push
    after_sync: bool = False  # compared before Metabase knows every field it filters on

    @property
    def pending(self) -> bool:
        return self.action in PENDING

    @property
    def conflict(self) -> bool:
        """Would overwrite (or archive) an edit made in Metabase (known only once every
        field the object filters on is known)."""
        return (
            self.edited_by is not None
            and self.action in ("update", "archive")
            and not self.after_sync
        )

    def line(self) -> str:
        where = f" (id {self.object_id})" if self.object_id is not None else ""
        text = f"{self.action:<9} {self.model} {self.key}{where}"
        if self.fields:
            text += ": " + ", ".join(self.fields)
        if self.after_sync:
            text += " (until Metabase has synced the views)"
        if self.conflict:
            text += f" [edited in Metabase by {self.edited_by}]"
        return text


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.pending]

    @property
    def conflicts(self) -> list[Change]:
        return [c for c in self.changes if c.conflict]

    def summary(self) -> str:
        counts = Counter(c.action for c in self.changes)
        return ", ".join(
            f"{counts[a]} to {a}" if a != "unchanged" else f"{counts[a]} unchanged"
            for a in (*PENDING, "unchanged")
        )


class EditedInMetabase(RuntimeError):
    """A push would overwrite edits made in Metabase since the last push."""

    def __init__(self, conflicts: list[Change]) -> None:
        self.conflicts = conflicts
        named = "; ".join(
            f"{c.model} {c.key} (id {c.object_id}) by {c.edited_by}" for c in conflicts
        )
        super().__init__(
            f"{len(conflicts)} managed object(s) were edited in Metabase since the last push "
            f"and would be overwritten: {named}; run `soleflip-bi dashboards plan` to see "
            "what differs, then `dashboards push --force` to overwrite"
        )


def stamp_to_record(model: str, obj: Mapping[str, Any], stamps: Stamps) -> str:
    """The stamp to record for an object a push leaves as it is: its own, unless someone
    edited it since the last push; then the old one stays, so that a later push that
    would overwrite that edit (in a field the templates do not set, say) still sees it."""
    recorded = stamps.get((model, int(obj["id"])))
    if recorded is not None and edited(model, obj, stamps):
        return recorded
    return edit_stamp(model, dict(obj))


def edited(model: str, obj: Mapping[str, Any], stamps: Stamps) -> str | None:
    """Who edited ``obj`` in Metabase since the last push recorded it, if anyone did."""
    recorded = stamps.get((model, int(obj["id"])))
    if recorded is None or not edited_since(recorded, edit_stamp(model, dict(obj))):
        return None
    return editor(dict(obj))


def card_change(
    key: str,
    existing: Mapping[str, Any] | None,
    desired: dict[str, Any],
    stamps: Stamps,
    after_sync: bool = False,
) -> Change:
    if existing is None:
        return Change("create", "card", key)
    fields = differences(comparable_card(dict(existing)), comparable_card(desired))
    return _compared("card", key, existing, fields, stamps, after_sync)


def dashboard_change(
    key: str,
    existing: Mapping[str, Any] | None,
    body: dict[str, Any],
    dashcards: list[dict[str, Any]],
    stamps: Stamps,
) -> Change:
    if existing is None:
        return Change("create", "dashboard", key)
    fields = differences(dict(existing), body)
    if comparable_dashcards(existing.get("dashcards") or []) != comparable_dashcards(dashcards):
        fields.append("dashcards")
    return _compared("dashboard", key, existing, fields, stamps)


def _compared(
    model: str,
    key: str,
    existing: Mapping[str, Any],
    fields: list[str],
    stamps: Stamps,
    after_sync: bool = False,
) -> Change:
    """An existing object: updated when a field differs, else left as it is."""
    return Change(
        "update" if fields else "unchanged",
        model,
        key,
        int(existing["id"]),
        tuple(fields),
        edited(model, existing, stamps),
        after_sync and bool(fields),
    )


def archive_change(model: str, key: str, existing: Mapping[str, Any], stamps: Stamps) -> Change:
    return Change("archive", model, key, int(existing["id"]), (), edited(model, existing, stamps))
