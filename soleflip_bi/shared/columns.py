"""What each column of a view or stored table means, written once beside its SQL.

``<name>.columns.toml`` holds a ``[columns]`` table (column -> description, in the
relation's column order) and a ``[types]`` table (column -> PostgreSQL type as
``format_type`` prints it). The Dagster UI's column schema, the PostgreSQL column
comments and docs/DATA_DICTIONARY.md are all made from it; the tests compare it with the
live relation.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str


def columns_text(package: str, stem: str) -> str:
    """The text of ``<stem>.columns.toml`` in ``package`` ('' when there is none)."""
    *folders, name = stem.split("/")
    entry = resources.files(package).joinpath(*folders, f"{name}.columns.toml")
    return entry.read_text() if entry.is_file() else ""


def load_columns(package: str, stem: str) -> tuple[Column, ...]:
    """The documented columns of ``<stem>.columns.toml`` in ``package``, in order."""
    document = tomllib.loads(columns_text(package, stem))
    descriptions: dict[str, str] = document.get("columns", {})
    types: dict[str, str] = document.get("types", {})
    return tuple(
        Column(name, types.get(name, ""), description) for name, description in descriptions.items()
    )
