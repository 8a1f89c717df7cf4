"""Source tables as external assets: they appear in the lineage graph, Dagster never writes them."""

from __future__ import annotations

import dagster as dg

from soleflip_bi.sources.tables import SOURCE_TABLES, SourceTable

SOURCES_GROUP = "sources"


def source_asset_key(table: SourceTable) -> dg.AssetKey:
    return dg.AssetKey([table.schema, table.name])


def build_source_assets() -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            key=source_asset_key(table),
            description=table.description,
            group_name=SOURCES_GROUP,
            kinds={"postgres"},
            metadata={
                "dagster/table_name": f"{table.schema}.{table.name}",
                "dagster/column_schema": dg.TableSchema(
                    columns=[dg.TableColumn(name) for name in table.columns]
                ),
            },
            tags={"layer": "source"},
        )
        for table in SOURCE_TABLES
    ]
