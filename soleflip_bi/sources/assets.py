"""Source tables as assets Dagster observes (``observe.py``) and never writes."""

from __future__ import annotations

import re

import dagster as dg

from soleflip_bi.shared.catalogue import SOURCE_TABLES, SourceTable
from soleflip_bi.sources.demo import read_sql

SOURCES_GROUP = "sources"


def source_asset_key(table: SourceTable) -> dg.AssetKey:
    return dg.AssetKey([table.schema, table.name])


# "    name   type [constraints],": a column line of a CREATE TABLE in sources/schema.sql
COLUMN_LINE = re.compile(
    r"^\s+(\w+)\s+(.+?)(?:\s+(?:primary|not|null|references|default|unique|check)\b.*?)?,?$"
)
TABLE_LINE = re.compile(r"^create table if not exists (\w+)\.\"?(\w+)\"? \($")


def declared_types() -> dict[tuple[str, str, str], str]:
    """(schema, table, column) -> type, as the project's source schema declares them (the
    types the views were written for; observations record what a database really has)."""
    types: dict[tuple[str, str, str], str] = {}
    table = None
    for line in read_sql("schema.sql").splitlines():
        if found := TABLE_LINE.match(line):
            table = found.groups()
        elif line.startswith(");"):
            table = None
        elif table and (column := COLUMN_LINE.match(line)):
            types[(*table, column.group(1))] = column.group(2)
    return types


def build_source_assets() -> list[dg.AssetSpec]:
    types = declared_types()
    return [
        dg.AssetSpec(
            key=source_asset_key(table),
            description=table.description,
            group_name=SOURCES_GROUP,
            kinds={"postgres"},
            metadata={
                "dagster/table_name": f"{table.schema}.{table.name}",
                "dagster/column_schema": dg.TableSchema(
                    columns=[
                        dg.TableColumn(name, types.get((table.schema, table.name, name), "?"))
                        for name in table.columns
                    ]
                ),
            },
            tags={"layer": "source"},
        )
        for table in SOURCE_TABLES
    ]
