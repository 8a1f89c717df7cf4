"""A sensor that drops Metabase's cached results of the cards reading a view once it refreshed.

It watches the materializations of the views the cards read. Each tick that finds new ones
that changed a view (a refresh that found nothing to do changes no cached result) asks
Metabase to invalidate the cached results of the cards reading those views
(``cache.invalidate_cards_reading``) and says in its skip message what it did or why it
could not: no Metabase configured, caching off, or an open-source Metabase, which cannot
invalidate. A Metabase that does not answer fails the tick, so the same views are tried
again on the next one.
"""

from __future__ import annotations

import json

import dagster as dg

from soleflip_bi.dashboards.cache import invalidate_cards_reading
from soleflip_bi.dashboards.templates import views_read
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.metabase.config import MetabaseConfig, metabase_configured
from soleflip_bi.views.assets import view_asset_key

CACHE_SENSOR_INTERVAL_SECONDS = 30
RECENT = 20  # materializations looked at per view and tick (about one an hour each)


def latest_materializations(instance: dg.DagsterInstance) -> dict[str, list[tuple[int, bool]]]:
    """Per card-read view, its newest materializations: (storage id, whether the refresh
    changed the view; one that found nothing to do records ``refresh_mode: skipped``)."""
    latest: dict[str, list[tuple[int, bool]]] = {}
    for view in views_read():
        records = instance.fetch_materializations(view_asset_key(view), limit=RECENT).records
        latest[view] = [
            (record.storage_id, _changed(record.asset_materialization)) for record in records
        ]
    return latest


def _changed(materialization: dg.AssetMaterialization | None) -> bool:
    mode = (materialization.metadata if materialization else {}).get("refresh_mode")
    return getattr(mode, "value", mode) != "skipped"


@dg.sensor(
    name="metabase_cache_sensor",
    minimum_interval_seconds=CACHE_SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a view the dashboards read refreshes, drops Metabase's cached results "
    "of the cards reading it (Metabase Pro/Enterprise; open-source Metabase cannot).",
)
def metabase_cache_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> dg.SkipReason:
    latest = latest_materializations(context.instance)
    cursor = {view: records[0][0] for view, records in latest.items() if records}
    seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    refreshed = sorted(
        view
        for view, records in latest.items()
        if any(changed and storage_id > seen.get(view, -1) for storage_id, changed in records)
    )
    if context.cursor is None:
        context.update_cursor(json.dumps(cursor))
        return dg.SkipReason("watching the views from now on")
    if not refreshed:
        context.update_cursor(json.dumps(cursor))
        return dg.SkipReason("no view the cards read has changed")
    if not metabase_configured():
        message = "METABASE_URL is not set: no Metabase cache to invalidate"
    else:
        config = MetabaseConfig.from_env()
        message = invalidate_cards_reading(config, postgres.url(), refreshed).message
    context.log.info(f"{', '.join(refreshed)} changed: {message}")
    context.update_cursor(json.dumps(cursor))
    return dg.SkipReason(message)
