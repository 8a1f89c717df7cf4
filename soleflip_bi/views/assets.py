"""One Dagster asset per registered view, generated from the registry."""

from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from datetime import timedelta

import dagster as dg
import psycopg
from dagster import AssetExecutionContext

from soleflip_bi.cleaned.assets import CLEANED_KEYS, cleaned_key
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.database.run_order import refresh_step
from soleflip_bi.database.steps import REFRESH_POOL, carried_check, retry_if_transient
from soleflip_bi.metabase.client import MetabaseError
from soleflip_bi.metabase.config import MetabaseConfigError
from soleflip_bi.metabase.questions import Questions, configured_questions
from soleflip_bi.metabase.versions import UnsupportedMetabase
from soleflip_bi.shared.columns import Column
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA
from soleflip_bi.views.checks import DRIFT_CHECK, check_specs_for, drift_check, run_checks
from soleflip_bi.views.lineage import column_lineage
from soleflip_bi.views.materialize import (
    RefreshMode,
    RefreshResult,
    materialize_view,
    view_columns,
)
from soleflip_bi.views.pg_cron import outside_refreshes, scheduled_elsewhere
from soleflip_bi.views.readers import FORCE_TAG, BreaksQuestions, Columns, guard
from soleflip_bi.views.registry import VIEWS, Tier, ViewSpec

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


def view_asset_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([ANALYTICS_SCHEMA, name])


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
                    "refreshed_on": ", ".join(sorted(s.value for s in spec.watches))
                    or "schedule only",
                    "dagster/table_name": f"{ANALYTICS_SCHEMA}.{spec.name}",
                    "dagster/column_schema": column_schema(spec.columns),
                },
            )
        ],
        pool=REFRESH_POOL,
        check_specs=check_specs_for(spec, key),
        can_subset=True,
    )
    def refresh_view(context: AssetExecutionContext, postgres: PostgresResource):
        """Refresh the view from the cleaned layer (maintained by its own step before this
        one) and report every selected check: evaluated on the refreshed view, or carried
        from the last evaluation when nothing the view reads had changed."""
        with refresh_step(context, postgres.url()):
            try:
                with postgres.connect() as conn:
                    result = materialize_view(
                        conn,
                        spec,
                        inspect=lambda c: run_checks(c, spec, key, _column_names(c, spec)),
                        before_rebuild=_readers_guard(context),
                    )
                    checks = list(result.inspection or [])
                    selected = context.selected_asset_check_keys
                    if result.mode is RefreshMode.SKIPPED:
                        checks = _carried_or_evaluated(context, conn, spec, key, selected)
                    repaired = bool(result.drift) and result.mode is RefreshMode.REBUILD
                    outside = tuple(outside_refreshes(scheduled_elsewhere(conn)[0], spec.name))
                    checks.append(drift_check(key, result.drift + outside, repaired))
            except BreaksQuestions as refused:
                raise dg.Failure(description=str(refused), allow_retries=False) from None
            except psycopg.Error as error:
                retry_if_transient(context, error)
                raise
        context.log.info(
            f"{spec.name}: {result.mode.value} refresh, {result.row_count} rows, "
            f"{result.seconds:.2f} s"
        )
        yield dg.MaterializeResult(asset_key=key, metadata=materialization_metadata(spec, result))
        yield from (r for r in checks if dg.AssetCheckKey(key, r.check_name) in selected)

    return refresh_view


def _readers_guard(context: AssetExecutionContext) -> Callable[[ViewSpec, Columns], None] | None:
    """Before a rebuild: stop it if it would break a Metabase question, unless the run is
    tagged ``FORCE_TAG``; Metabase that cannot be asked is a warning (``views/readers.py``)."""
    if context.run.tags.get(FORCE_TAG) == "true":
        return None

    def questions() -> Questions | None:
        try:
            return configured_questions()
        except (MetabaseError, MetabaseConfigError, UnsupportedMetabase) as error:
            context.log.warning(
                f"Metabase could not be asked which questions read the view ({error}): "
                "rebuilding without that check"
            )
            return None

    return guard(questions, f"launch the run with the tag {FORCE_TAG}=true (views refresh --force)")


def _carried_or_evaluated(
    context: AssetExecutionContext,
    conn: psycopg.Connection,
    spec: ViewSpec,
    key: dg.AssetKey,
    selected: AbstractSet[dg.AssetCheckKey],
) -> list[dg.AssetCheckResult]:
    """The checks of a view whose refresh was skipped: the last evaluations carried
    forward; a check never evaluated on this instance is evaluated now."""
    because = "nothing the view reads changed since that evaluation"
    carried = {k: carried_check(context, k, because) for k in selected if k.name != DRIFT_CHECK}
    if all(carried.values()):
        return list(carried.values())
    evaluated = run_checks(conn, spec, key, _column_names(conn, spec))
    conn.rollback()
    return [carried.get(dg.AssetCheckKey(key, r.check_name)) or r for r in evaluated]


def _column_names(conn: psycopg.Connection, spec: ViewSpec) -> list[str]:
    return [name for name, _type in view_columns(conn, spec.name)]


def column_schema(columns: tuple[Column, ...]) -> dg.TableSchema:
    """The documented columns as Dagster's column schema (the asset's definition)."""
    return dg.TableSchema(
        columns=[dg.TableColumn(c.name, c.type, description=c.description) for c in columns]
    )


def materialization_metadata(spec: ViewSpec, result: RefreshResult) -> dict[str, object]:
    """What a materialization reports; its column schema has the live types and the
    documented descriptions."""
    described = {column.name: column.description for column in spec.columns}
    return {
        "dagster/row_count": result.row_count,
        "dagster/table_name": f"{ANALYTICS_SCHEMA}.{spec.name}",
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(name, data_type, description=described.get(name))
                for name, data_type in result.columns
            ]
        ),
        "dagster/column_lineage": column_lineage(spec, [name for name, _ in result.columns]),
        "size_bytes": dg.MetadataValue.int(result.size_bytes),
        "refresh_mode": result.mode.value,
        "duration_seconds": dg.MetadataValue.float(round(result.seconds, 3)),
        "indexes": dg.MetadataValue.json(list(result.indexes)),
        "definition_hash": result.definition_hash,
        # descriptions this refresh set in place (nothing rebuilt for them)
        "descriptions_set": dg.MetadataValue.json(list(result.described)),
    }


VIEW_ASSETS: list[dg.AssetsDefinition] = [build_view_asset(spec) for spec in VIEWS]


def refresh_selection(names: Iterable[str]) -> dg.AssetSelection:
    """What a run refreshing the views ``names`` materializes: the cleaned layer's step
    (the facts the views read) and then the views, with their checks."""
    views = dg.AssetSelection.assets(*(view_asset_key(name) for name in names))
    return dg.AssetSelection.assets(*CLEANED_KEYS) | views
