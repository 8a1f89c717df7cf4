"""What each column of a view or stored table means, written once beside its SQL.

``<name>.columns.toml`` holds a ``[columns]`` table with one line per column, in the
relation's column order::

    total_revenue = { type = "numeric", semantic = "currency", description = "Sum of ..." }

* ``type``: the PostgreSQL type as ``format_type`` prints it;
* ``description``: what it measures, its unit, what NULL means;
* ``semantic`` (optional): what the values are, for Metabase's data model (``SEMANTICS``);
* ``references`` (optional): ``<view>.<column>``, the key of another view this column names
  (a foreign key in Metabase);
* ``hidden`` (optional): bookkeeping, hidden from Metabase's pickers.

The Dagster UI's column schema, the PostgreSQL comments, docs/DATA_DICTIONARY.md and
Metabase's field metadata (``dashboards/metadata.py``) are all made from it; the tests
compare it with the live relation.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources

# What a column's values are; dashboards/metadata.py maps each to Metabase's semantic type.
SEMANTICS = (
    "key",  # the view's entity key: one row per value
    "currency",  # an amount in the reporting currency (EUR)
    "percent",  # a percentage, 0 to 100
    "quantity",  # a count of things
    "category",  # one of a few values
    "name",  # the name of the row's entity
    "city",
    "country",
)


class ColumnsFileError(ValueError):
    """A ``.columns.toml`` that does not say what this module expects."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    semantic: str | None = None
    references: str | None = None  # "<view>.<column>"
    hidden: bool = False


KEYS = {"type", "description", "semantic", "references", "hidden"}


def columns_text(package: str, stem: str) -> str:
    """The text of ``<stem>.columns.toml`` in ``package`` ('' when there is none)."""
    *folders, name = stem.split("/")
    entry = resources.files(package).joinpath(*folders, f"{name}.columns.toml")
    return entry.read_text() if entry.is_file() else ""


def load_columns(package: str, stem: str) -> tuple[Column, ...]:
    """The documented columns of ``<stem>.columns.toml`` in ``package``, in order."""
    document = tomllib.loads(columns_text(package, stem))
    columns = []
    for name, entry in document.get("columns", {}).items():
        where = f"{stem}.columns.toml, column {name}"
        if not isinstance(entry, dict) or not {"type", "description"} <= set(entry):
            raise ColumnsFileError(f"{where}: write {{ type = ..., description = ... }}")
        if set(entry) - KEYS:
            raise ColumnsFileError(f"{where}: unknown key(s) {sorted(set(entry) - KEYS)}")
        semantic = entry.get("semantic")
        if semantic is not None and semantic not in SEMANTICS:
            raise ColumnsFileError(f"{where}: semantic {semantic!r} is not one of {SEMANTICS}")
        references = entry.get("references")
        if references is not None and references.count(".") != 1:
            raise ColumnsFileError(f"{where}: references is written <view>.<column>")
        columns.append(
            Column(
                name,
                entry["type"],
                entry["description"],
                semantic,
                references,
                bool(entry.get("hidden", False)),
            )
        )
    return tuple(columns)
