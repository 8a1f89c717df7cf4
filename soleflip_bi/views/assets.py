"""One Dagster asset per registered view, generated from the registry."""

from datetime import timedelta

import dagster as dg
import psycopg
from dagster import AssetExecutionContext

from soleflip_bi.cleaned.assets import cleaned_key
from soleflip_bi.cleaned.layer import ensure_cleaned_layer
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.views.checks import check_specs_for, run_checks
from soleflip_bi.views.lineage import column_lineage
from soleflip_bi.views.materialize import RefreshResult, materialize_view, view_columns
from soleflip_bi.views.registry import ANALYTICS_SCHEMA, VIEWS, Tier, ViewSpec

REFRESH_POOL = "analytics_refresh"

# A view is stale when it has not been refreshed for about two of its intervals.
FRESHNESS_BY_TIER: dict[Tier, dg.FreshnessPolicy] = {
    Tier.HOURLY: dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=2), warn_window=timedelta(hours=1, minutes=15)
    ),
    Tier.DAILY: dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=26), warn_window=timedelta(hours=25)
    ),
    Tier.WEEKLY: dg.FreshnessPolicy.time_window(
        fail_window=timedelta(days=8), warn_window=timedelta(days=7, hours=1)
    ),
}

MAX_TRANSIENT_RETRIES = 4
FIRST_RETRY_DELAY_SECONDS = 5


def view_asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([ANALYTICS_SCHEMA, name])


def is_transient(error: BaseException) -> bool:
    """Errors worth retrying: the connection went away or a lock could not be had in time.

    SQL errors (bad definitions, constraint problems, statement timeouts) fail at once.
    """
    return isinstance(error, psycopg.errors.LockNotAvailable | psycopg.errors.DeadlockDetected) or (
        isinstance(error, psycopg.OperationalError)
        and not isinstance(error, psycopg.errors.QueryCanceled)
    )


def build_view_asset(spec: ViewSpec) -> dg.AssetsDefinition:
    key = view_asset_key(spec.name)

    @dg.multi_asset(
        name=f"refresh_{spec.name}",
        specs=[
            dg.AssetSpec(
                key=key,
                description=spec.description,
                deps=[cleaned_key(cleaned.value) for cleaned in sorted(spec.reads)],
                group_name=f"analytics_{spec.tier.value}",
                code_version=spec.definition_hash,
                kinds={"postgres"},
                tags={"tier": spec.tier.value, "layer": "gold"},
                freshness_policy=FRESHNESS_BY_TIER[spec.tier],
                metadata={
                    "grain": ", ".join(spec.grain),
                    "tier": spec.tier.value,
                    "refreshed_on": ", ".join(sorted(s.value for s in spec.refreshed_on))
                    or "schedule only",
                    "dagster/table_name": f"{ANALYTICS_SCHEMA}.{spec.name}",
                },
            )
        ],
        pool=REFRESH_POOL,
        check_specs=check_specs_for(spec, key),
        # Subsettable so that checks are optional outputs: a skipped refresh (nothing
        # changed) reports no new check results; the last ones still describe the data.
        can_subset=True,
    )
    def refresh_view(context: AssetExecutionContext, postgres: PostgresResource):
        try:
            with postgres.connect() as conn:
                ensure_cleaned_layer(conn)
                result = materialize_view(
                    conn,
                    spec,
                    inspect=lambda c: run_checks(c, spec, key, _column_names(c, spec)),
                )
        except psycopg.Error as error:
            if is_transient(error) and context.retry_number < MAX_TRANSIENT_RETRIES:
                delay = FIRST_RETRY_DELAY_SECONDS * 2**context.retry_number
                context.log.warning(f"transient error, retrying in {delay} s: {error}")
                raise dg.RetryRequested(
                    max_retries=MAX_TRANSIENT_RETRIES, seconds_to_wait=delay
                ) from error
            raise
        context.log.info(
            f"{spec.name}: {result.mode.value} refresh, {result.row_count} rows, "
            f"{result.seconds:.2f} s"
        )
        yield dg.MaterializeResult(asset_key=key, metadata=materialization_metadata(spec, result))
        selected = context.selected_asset_check_keys
        yield from (
            r for r in result.inspection or [] if dg.AssetCheckKey(key, r.check_name) in selected
        )

    return refresh_view


def _column_names(conn: psycopg.Connection, spec: ViewSpec) -> list[str]:
    return [name for name, _type in view_columns(conn, spec.name)]


def materialization_metadata(spec: ViewSpec, result: RefreshResult) -> dict[str, object]:
    return {
        "dagster/row_count": result.row_count,
        "dagster/table_name": f"{ANALYTICS_SCHEMA}.{spec.name}",
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, data_type) for name, data_type in result.columns]
        ),
        "dagster/column_lineage": column_lineage(spec, [name for name, _ in result.columns]),
        "size_bytes": dg.MetadataValue.int(result.size_bytes),
        "refresh_mode": result.mode.value,
        "duration_seconds": dg.MetadataValue.float(round(result.seconds, 3)),
        "indexes": dg.MetadataValue.json(list(result.indexes)),
        "definition_hash": result.definition_hash,
    }


VIEW_ASSETS: list[dg.AssetsDefinition] = [build_view_asset(spec) for spec in VIEWS]
