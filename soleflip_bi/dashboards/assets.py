"""The dashboards as one Dagster asset, downstream of the views their cards read.

With METABASE_URL set it provisions Metabase; without, it writes the JSON export, so the
lineage source -> view -> dashboard is complete in every environment.
"""

import dagster as dg

from soleflip_bi.dashboards.export import export_dashboards
from soleflip_bi.dashboards.provision import push_dashboards
from soleflip_bi.dashboards.render import check_cards
from soleflip_bi.dashboards.templates import DASHBOARDS, templates_hash, views_read
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.database.run_order import run_alive
from soleflip_bi.metabase.config import (
    MetabaseConfig,
    export_directory,
    metabase_configured,
)
from soleflip_bi.views.assets import view_asset_key

METABASE_DASHBOARDS_KEY = dg.AssetKey(["metabase", "dashboards"])


@dg.asset(
    key=METABASE_DASHBOARDS_KEY,
    description="The four Metabase dashboards (31 cards) of soleflip_bi/dashboards: pushed "
    "to Metabase when METABASE_URL is set, otherwise exported as JSON.",
    deps=[view_asset_key(view) for view in views_read()],
    group_name="dashboards",
    kinds={"metabase"},
    code_version=templates_hash(),
    # Provisioned again when the templates change, never on a view refresh (the cards read
    # the views live); dashboards_automation_sensor evaluates this.
    automation_condition=dg.AutomationCondition.code_version_changed(),
    metadata={"dashboards": dg.MetadataValue.json([d.name for d in DASHBOARDS])},
)
def metabase_dashboards(
    context: dg.AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult:
    with postgres.connect() as conn:
        cards = check_cards(conn, DASHBOARDS)
    common = {
        "cards": cards,
        "dashboards": dg.MetadataValue.json([d.name for d in DASHBOARDS]),
    }
    if not metabase_configured():
        directory = export_directory()
        paths = export_dashboards(directory)
        context.log.info(f"METABASE_URL is not set: exported {len(paths)} files to {directory}")
        return dg.MaterializeResult(
            metadata={"mode": "exported", "path": dg.MetadataValue.path(str(directory)), **common}
        )
    with run_alive(context, postgres.url()):  # many requests, each up to its timeout
        report = push_dashboards(MetabaseConfig.from_env(), postgres.url())
    counts = report.progress.counts()
    for line in report.progress.changes():
        context.log.info(line)
    return dg.MaterializeResult(
        metadata={
            "mode": "pushed",
            "metabase_url": dg.MetadataValue.url(report.metabase_url),
            "metabase_version": report.version,
            "created": counts["created"],
            "updated": counts["updated"],
            "unchanged": counts["unchanged"],
            "archived": counts["archived"],
            "dashboard_urls": dg.MetadataValue.json(
                {name: report.dashboard_url(name) for name in report.dashboard_ids}
            ),
            **common,
        }
    )


dashboards_automation_sensor = dg.AutomationConditionSensorDefinition(
    "dashboards_automation_sensor",
    target=dg.AssetSelection.assets(METABASE_DASHBOARDS_KEY),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Materializes metabase/dashboards when its templates' code version changes.",
)
