"""A sensor that drops Metabase's cached results of the cards reading a view once it refreshed.

It watches the materializations of the views the cards read. Each tick that finds new ones
asks Metabase to invalidate the cached results of the cards reading those views
(``cache.invalidate_cards_reading``) and says in its skip message what it did or why it
could not: no Metabase configured, caching off, or an open-source Metabase, which cannot
invalidate. A Metabase that does not answer fails the tick, so the same views are tried
again on the next one.
"""

from __future__ import annotations

import json

import dagster as dg

from soleflip_bi.dashboards.cache import invalidate_cards_reading
from soleflip_bi.dashboards.config import MetabaseConfig, metabase_configured
from soleflip_bi.dashboards.templates import views_read
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.views.assets import view_asset_key

CACHE_SENSOR_INTERVAL_SECONDS = 30


def latest_materializations(instance: dg.DagsterInstance) -> dict[str, int]:
    """Storage id of each card-read view's latest materialization."""
    latest: dict[str, int] = {}
    for view in views_read():
        records = instance.fetch_materializations(view_asset_key(view), limit=1).records
        if records:
            latest[view] = records[0].storage_id
    return latest


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
    seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    refreshed = [view for view, storage_id in latest.items() if storage_id > seen.get(view, -1)]
    if context.cursor is None:
        context.update_cursor(json.dumps(latest))
        return dg.SkipReason("watching the views from now on")
    if not refreshed:
        return dg.SkipReason("no view the cards read has refreshed")
    if not metabase_configured():
        context.update_cursor(json.dumps(latest))
        return dg.SkipReason("METABASE_URL is not set: no Metabase cache to invalidate")
    outcome = invalidate_cards_reading(MetabaseConfig.from_env(), postgres.url(), refreshed)
    context.update_cursor(json.dumps(latest))
    return dg.SkipReason(outcome.message)
