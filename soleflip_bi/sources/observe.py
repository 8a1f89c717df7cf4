"""Observations of the source tables: when they changed, how much, and their real columns.

Dagster never writes the sources; it observes them. A sensor that sees changes records an
observation of its table (the change-log position as data version, the statements per
operation since the last one); ``soleflip-bi demo`` observes every table once after the
build, so none of them shows "never observed"; the UI's "Observe" button does the same.
"""

import warnings

import dagster as dg
import psycopg
from dagster import AssetExecutionContext

from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.shared.catalogue import SOURCE_TABLES, SourceTable
from soleflip_bi.sources.assets import build_source_assets, source_asset_key

DATA_VERSION_TAG = "dagster/data_version"

COLUMNS = """
select a.attname, format_type(a.atttypid, a.atttypmod)
from pg_attribute a
where a.attrelid = to_regclass(%s) and a.attnum > 0 and not a.attisdropped
order by a.attnum
"""


def observe_table(
    conn: psycopg.Connection,
    table: SourceTable,
    data_version: str,
    changes: dict[str, int] | None = None,
) -> dg.AssetObservation:
    """An observation of ``table`` as the database holds it now."""
    columns = conn.execute(COLUMNS, (table.qualified_name,)).fetchall()
    estimate = conn.execute(
        "select greatest(reltuples, 0)::bigint from pg_class where oid = to_regclass(%s)",
        (table.qualified_name,),
    ).fetchone()
    metadata: dict[str, object] = {
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, data_type) for name, data_type in columns]
        ),
        "row_estimate": int(estimate[0]) if estimate and estimate[0] is not None else 0,
    }
    if changes is not None:
        metadata.update(
            {
                "insert_statements": changes.get("INSERT", 0),
                "update_statements": changes.get("UPDATE", 0),
                "delete_statements": changes.get("DELETE", 0),
                "other_changes": sum(
                    n for op, n in changes.items() if op not in {"INSERT", "UPDATE", "DELETE"}
                ),
            }
        )
    return dg.AssetObservation(
        asset_key=source_asset_key(table),
        metadata=metadata,
        tags={DATA_VERSION_TAG: data_version},
    )


def observe_all(conn: psycopg.Connection) -> list[dg.AssetObservation]:
    """Every source table, versioned by the current snapshot."""
    snapshot = conn.execute("select pg_current_snapshot()::text").fetchone()[0]
    return [observe_table(conn, table, snapshot) for table in SOURCE_TABLES]


with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)

    @dg.multi_observable_source_asset(
        name="observe_sources", specs=build_source_assets(), can_subset=True
    )
    def observe_sources(context: AssetExecutionContext, postgres: PostgresResource):
        """Observe the selected source tables: columns, row estimate, current snapshot."""
        selected = context.selected_asset_keys
        with postgres.connect() as conn:
            for observation in observe_all(conn):
                if observation.asset_key in selected:
                    yield dg.ObserveResult(
                        asset_key=observation.asset_key,
                        metadata=observation.metadata,
                        data_version=dg.DataVersion(observation.tags[DATA_VERSION_TAG]),
                    )
