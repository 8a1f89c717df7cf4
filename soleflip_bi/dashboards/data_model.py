"""Metabase's data model (``metadata_push.py``) as an asset of its own, and the sensor that
writes it after a build changed a view's columns or descriptions, in one run with the
dashboards.

A view step records ``refresh_mode`` (create and rebuild change columns) and
``descriptions_set`` (the comments it set in place). The sensor requests a run of
``metabase/data_model`` and ``metabase/dashboards`` whenever a view's newest
materializations hold either, and once when the data model was never written. The push
waits for Metabase to sync a new column before it writes it. Without METABASE_URL the
asset records that it wrote nothing, in one line, as the dashboards do.
"""

import hashlib

import dagster as dg

from soleflip_bi.dashboards.assets import METABASE_DASHBOARDS_KEY
from soleflip_bi.dashboards.metadata_push import push_metadata
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.database.run_order import run_alive
from soleflip_bi.metabase.config import MetabaseConfig, metabase_configured
from soleflip_bi.views.assets import view_asset_key
from soleflip_bi.views.registry import VIEWS

DATA_MODEL_KEY = dg.AssetKey(["metabase", "data_model"])
DATA_MODEL_SENSOR = "metabase_data_model_sensor"
SENSOR_INTERVAL_SECONDS = 30
RECENT = 5  # materializations looked at per view and tick
CHANGING_MODES = ("create", "rebuild")


def data_model_version() -> str:
    """Everything the push writes comes from the registry's descriptions and columns."""
    text = "\n".join(
        f"{spec.name}:{spec.description}:{spec.columns!r}" for spec in VIEWS
    )  # Column is a frozen dataclass: its repr holds every value
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dg.asset(
    key=DATA_MODEL_KEY,
    description="Metabase's data model of the views from the registry's .columns.toml: each "
    "table's and field's description and display name, semantic types, foreign keys and "
    "visibility (`soleflip-bi dashboards metadata push`). Analysts' own edits are kept.",
    deps=[view_asset_key(spec.name) for spec in VIEWS],
    group_name="dashboards",
    kinds={"metabase"},
    code_version=data_model_version(),
)
def metabase_data_model(
    context: dg.AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult:
    if not metabase_configured():
        context.log.info("METABASE_URL is not set: Metabase's data model is not written")
        return dg.MaterializeResult(metadata={"mode": "not written: METABASE_URL is not set"})
    with run_alive(context, postgres.url()):
        report = push_metadata(MetabaseConfig.from_env(), postgres.url())
    for line in report.progress.changes():
        context.log.info(line)
    for change in report.plan.edited:
        context.log.warning(change.line())
    return dg.MaterializeResult(
        metadata={
            "mode": "pushed",
            "metabase_version": report.version,
            "written": len(report.plan.pending),
            "kept_edited_in_metabase": dg.MetadataValue.json(
                [c.line() for c in report.plan.edited]
            ),
            "unchanged": report.plan.unchanged,
        }
    )


def _changes_columns(materialization: dg.AssetMaterialization | None) -> bool:
    metadata = materialization.metadata if materialization else {}
    mode = getattr(metadata.get("refresh_mode"), "value", None)
    described = getattr(metadata.get("descriptions_set"), "value", None)
    return mode in CHANGING_MODES or bool(described)


@dg.sensor(
    name=DATA_MODEL_SENSOR,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=[DATA_MODEL_KEY, METABASE_DASHBOARDS_KEY],
    description="After a build changed a view's columns or descriptions, writes Metabase's "
    "data model and the dashboards in one run.",
)
def metabase_data_model_sensor(context: dg.SensorEvaluationContext):
    newest = 0
    changed = []
    seen = int(context.cursor or 0)
    for spec in VIEWS:
        records = context.instance.fetch_materializations(
            view_asset_key(spec.name), limit=RECENT
        ).records
        newest = max([newest, *(r.storage_id for r in records)])
        if any(r.storage_id > seen and _changes_columns(r.asset_materialization) for r in records):
            changed.append(spec.name)
    never = context.instance.get_latest_materialization_event(DATA_MODEL_KEY) is None
    if not changed and not (never and newest):
        return dg.SensorResult(
            skip_reason="no view's columns or descriptions changed", cursor=str(newest)
        )
    if not metabase_configured():
        return dg.SensorResult(
            skip_reason="METABASE_URL is not set: Metabase's data model is not written",
            cursor=str(newest),
        )
    why = f"columns or descriptions changed: {', '.join(changed)}" if changed else "never written"
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"data_model:{newest}", tags={"soleflip/why": why[:200]})
        ],
        cursor=str(newest),
    )
