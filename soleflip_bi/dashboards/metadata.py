"""Metabase's data model from the registry: what each view and column means, in Metabase.

Metabase's sync reads a table's comment but no column comment of a materialized view
(README "In Metabase"), and guesses semantic types from names and values. This module
writes what the project knows instead, through Metabase's API (``PUT /api/table/:id``,
``PUT /api/field/:id``), from the one place it is declared: the registry's view
descriptions and each column's line in ``<view>.columns.toml`` (``shared/columns.py``).

Per view: display name and description. Per column: display name, description, semantic
type (``SEMANTIC_TYPES``; a ``references`` column is a foreign key to that view's key),
visibility (a ``hidden`` column is shown in detail views only), and formatting defaults
where the type needs them (EUR for amounts; percentages are stored 0 to 100).

An analyst's own edit in Metabase's Table Metadata is kept: Metabase records no editor for
tables and fields, so the ledger (``ledger.py``, models ``table`` and ``field``) keeps a
hash of what the last push wrote; a value that differs from it was changed in Metabase,
and is reported and left alone unless ``--force`` is given. Values Metabase's sync set
before the first push are not edits and are overwritten.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from soleflip_bi.shared.columns import Column
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA
from soleflip_bi.views.registry import VIEWS, ViewSpec

# shared/columns.SEMANTICS -> Metabase's semantic type (types.cljc in metabase/metabase)
SEMANTIC_TYPES = {
    "key": "type/PK",
    "currency": "type/Currency",
    "percent": "type/Percentage",
    "quantity": "type/Quantity",
    "category": "type/Category",
    "name": "type/Name",
    "city": "type/City",
    "country": "type/Country",
}
FOREIGN_KEY = "type/FK"
# A field's visibility_type: "normal" everywhere, "details-only" in detail views only.
VISIBLE, DETAILS_ONLY = "normal", "details-only"
# Formatting defaults a field carries (``settings``). The frontend formats a Currency field
# as money only when a currency is set, and a Percentage field in the "percent" style,
# which multiplies by 100 (getDefaultNumberStyle, frontend/src/metabase/visualizations/
# lib/settings); the views store percentages from 0 to 100, hence the scale.
FIELD_SETTINGS: dict[str, dict[str, Any]] = {
    "currency": {"currency": "EUR"},
    "percent": {"scale": 0.01},
}
# What a push writes of a table and of a field (compared with Metabase, hashed for the ledger).
TABLE_KEYS = ("display_name", "description")
FIELD_KEYS = (
    "display_name",
    "description",
    "semantic_type",
    "fk_target_field_id",
    "visibility_type",
    "settings",
)
# Words written in capitals (or as a sign) in display names.
WORDS = {"id": "ID", "roi": "ROI", "sku": "SKU", "vat": "VAT", "eu": "EU", "us": "US", "pct": "%"}


@dataclass(frozen=True)
class Wanted:
    """What a push writes to one Metabase table or field; ``references`` is the
    (view, column) whose field id fk_target_field_id takes."""

    view: str
    column: str | None  # None: the table itself
    values: dict[str, Any]
    references: tuple[str, str] | None = None

    @property
    def label(self) -> str:
        return f"{ANALYTICS_SCHEMA}.{self.view}" + (f".{self.column}" if self.column else "")


def display_name(name: str) -> str:
    """``market_share_pct`` -> ``Market share %``; ``avg_roi`` -> ``Avg ROI``."""
    words = [WORDS.get(word, word) for word in name.split("_")]
    first = words[0]
    return " ".join([first[:1].upper() + first[1:], *words[1:]])


def table_wanted(spec: ViewSpec) -> Wanted:
    name = display_name(spec.name.removeprefix("metabase_"))
    return Wanted(spec.name, None, {"display_name": name, "description": spec.description})


def field_wanted(spec: ViewSpec, column: Column) -> Wanted:
    references = None
    if column.references:
        view, target = column.references.split(".")
        references = (view, target)
    semantic = FOREIGN_KEY if references else SEMANTIC_TYPES.get(column.semantic or "")
    values = {
        "display_name": display_name(column.name),
        "description": column.description,
        "semantic_type": semantic,
        "fk_target_field_id": None,  # the target's field id, known once Metabase is read
        "visibility_type": DETAILS_ONLY if column.hidden else VISIBLE,
        "settings": FIELD_SETTINGS.get(column.semantic or "") or None,
    }
    return Wanted(spec.name, column.name, values, references)


def wanted(specs: tuple[ViewSpec, ...] = VIEWS) -> list[Wanted]:
    """Every table and field a push writes, views in registry order, columns in theirs."""
    found = []
    for spec in specs:
        found.append(table_wanted(spec))
        found.extend(field_wanted(spec, column) for column in spec.columns)
    return found


@dataclass
class Change:
    """One table or field whose values in Metabase differ from the registry's."""

    wanted: Wanted
    object_id: int
    differing: dict[str, tuple[Any, Any]]  # key -> (in Metabase, wanted)
    edited: bool  # changed in Metabase since the last push
    values: dict[str, Any]  # every value wanted, the foreign key's target id resolved

    @property
    def model(self) -> str:
        return "table" if self.wanted.column is None else "field"

    def body(self) -> dict[str, Any]:
        """What ``PUT /api/<model>/:id`` sends: the differing values; a foreign key's type
        and target always together (the target is kept only on a type/FK field)."""
        body = {key: wanted for key, (_now, wanted) in self.differing.items()}
        if self.values.get("semantic_type") == FOREIGN_KEY and (
            {"semantic_type", "fk_target_field_id"} & set(body)
        ):
            body["semantic_type"] = FOREIGN_KEY
            body["fk_target_field_id"] = self.values["fk_target_field_id"]
        return body

    def line(self) -> str:
        keys = ", ".join(sorted(self.differing))
        note = " (edited in Metabase since the last push: kept)" if self.edited else ""
        return f"{self.wanted.label}: {keys}{note}"


@dataclass
class MetadataPlan:
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    # object -> the values a push has now written to it (for the ledger)
    stamps: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if not c.edited]

    @property
    def edited(self) -> list[Change]:
        return [c for c in self.changes if c.edited]


def stamp(values: dict[str, Any]) -> str:
    """A hash of the values a push writes (the ledger's edit stamp for tables and fields)."""
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def current_values(obj: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The values of ``keys`` as Metabase holds them; a field's missing visibility is normal."""
    values = {key: obj.get(key) for key in keys}
    if "visibility_type" in values and values["visibility_type"] is None:
        values["visibility_type"] = VISIBLE
    if "settings" in values and not values["settings"]:
        values["settings"] = None
    return values


def plan_metadata(
    tables: dict[str, dict[str, Any]],
    recorded: dict[tuple[str, int], str],
    force: bool = False,
) -> MetadataPlan:
    """Compare Metabase's ``tables`` (name -> table with ``fields``, as
    ``GET /api/database/:id/metadata`` returns them) with the registry. ``recorded`` holds
    the ledger's stamps of the last push; ``force`` takes edits made in Metabase for
    changes to overwrite."""
    ids = {
        (name, f["name"]): int(f["id"]) for name, table in tables.items() for f in table["fields"]
    }
    plan = MetadataPlan()
    for want in wanted():
        table = tables[want.view]
        if want.column is None:
            model, obj, keys = "table", table, TABLE_KEYS
        else:
            model, keys = "field", FIELD_KEYS
            obj = next(f for f in table["fields"] if f["name"] == want.column)
        values = dict(want.values)
        if want.references is not None:
            values["fk_target_field_id"] = ids.get(want.references)
        now = current_values(obj, keys)
        object_id = int(obj["id"])
        differing = {k: (now[k], values[k]) for k in keys if now[k] != values[k]}
        last, last_type = _split(recorded.get((model, object_id)))
        database_type = obj.get("database_type") if model == "field" else None
        edited = (
            bool(differing)
            and last is not None
            and last != stamp(now)
            and not (
                _resynced(last_type, database_type)
                and last == stamp({**now, "semantic_type": values.get("semantic_type")})
            )
            and not force
        )
        if differing:
            plan.changes.append(Change(want, object_id, differing, edited, values))
        else:
            plan.unchanged += 1
        # an edit kept stays an edit: the stamp of the push before it is kept with it
        written = recorded[(model, object_id)] if edited else _joined(stamp(values), database_type)
        plan.stamps[(model, object_id)] = (want.label, written)
    return plan


# A field's stamp also holds the column type Metabase had synced when the push wrote it:
# when sync finds another type, it fingerprints and classifies the field again and may set
# another semantic type (src/metabase/sync/sync_metadata/fields/sync_metadata.clj resets
# the fingerprint when the base type changes; src/metabase/analyze/classifiers/name.clj
# then guesses from the name). A field whose only change since the push is its semantic
# type, with its type changed meanwhile, was changed by Metabase, not an analyst: it is
# written again; any other change on it is still an analyst's edit.
_TYPE_MARK = "@"


def _joined(values_stamp: str, database_type: str | None) -> str:
    return f"{values_stamp}{_TYPE_MARK}{database_type}" if database_type else values_stamp


def _split(recorded: str | None) -> tuple[str | None, str | None]:
    if recorded is None:
        return None, None
    values_stamp, _, database_type = recorded.partition(_TYPE_MARK)
    return values_stamp, database_type or None


def _resynced(recorded_type: str | None, database_type: str | None) -> bool:
    """Whether sync has seen the field with another type since the push that wrote it."""
    return (
        recorded_type is not None and database_type is not None and recorded_type != database_type
    )
