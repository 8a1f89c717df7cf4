"""`soleflip-bi dashboards metadata plan | push`: Metabase's data model from the registry.

Under ``dashboards`` because it is the same Metabase, the same settings (METABASE_URL and
its credentials), the same connection to the shop database and the same conventions as
``dashboards push``: a plan first, exit 2 while changes are pending, edits made in
Metabase kept unless ``--force``.

A push first makes sure Metabase knows every view and column: when one is missing (a new
view, a column a redefinition added), it asks Metabase to sync the schema and waits, up to
``--sync-timeout`` seconds, then writes only the values that differ (``metadata.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from soleflip_bi.dashboards.ledger import record_stamps, recorded_stamps
from soleflip_bi.dashboards.metadata import MetadataPlan, plan_metadata
from soleflip_bi.dashboards.progress import Progress, PushFailed
from soleflip_bi.dashboards.sync import (
    DEFAULT_SYNC_TIMEOUT_SECONDS,
    SchemaSyncTimeout,
    ensure_database,
    field_ids,
)
from soleflip_bi.metabase.client import MetabaseError
from soleflip_bi.metabase.config import MetabaseConfig, connection_details
from soleflip_bi.metabase.session import analytics_tables, connect, find_database
from soleflip_bi.views.registry import VIEWS

MODELS = ("table", "field")


@dataclass(frozen=True)
class MetadataReport:
    version: str
    plan: MetadataPlan
    progress: Progress


def needed_columns() -> dict[str, set[str]]:
    return {spec.name: {c.name for c in spec.columns} for spec in VIEWS}


def read_plan(config: MetabaseConfig, database_url: str, force: bool = False) -> MetadataPlan:
    """What a push would write; changes nothing. Views Metabase has not synced yet are
    planned as soon as it has (a push waits for them)."""
    client, _version = connect(config)
    found = find_database(client)
    tables = analytics_tables(client, found[0]) if found else {}
    missing = [spec.name for spec in VIEWS if spec.name not in tables]
    if missing:
        raise PushFailed(
            RuntimeError(
                f"Metabase does not know {len(missing)} view(s) yet "
                f"({', '.join(missing[:3])}{' and more' if len(missing) > 3 else ''}): "
                "`dashboards metadata push` has it sync the schema first"
            ),
            Progress(),
            verb="metadata plan",
        )
    return plan_metadata(tables, recorded_stamps(database_url, config.url), force)


def push_metadata(
    config: MetabaseConfig,
    database_url: str,
    *,
    force: bool = False,
    sync_timeout: float = DEFAULT_SYNC_TIMEOUT_SECONDS,
) -> MetadataReport:
    """Write the registry's descriptions, display names, semantic types and visibility to
    every analytics table and field of Metabase whose values differ."""
    progress = Progress()
    try:
        client, version = connect(config)
        database_id, created = ensure_database(client, connection_details(database_url), progress)
        field_ids(client, database_id, needed_columns(), progress, sync_timeout, syncing=created)
        plan = plan_metadata(
            analytics_tables(client, database_id),
            recorded_stamps(database_url, config.url),
            force,
        )
        for change in plan.pending:
            body = change.body()
            client.put(f"/api/{change.model}/{change.object_id}", body)
            progress.record("updated", f"{change.wanted.label}: {', '.join(sorted(body))}")
        for change in plan.edited:
            progress.record("kept", change.line())
    except (MetabaseError, SchemaSyncTimeout) as exc:
        raise PushFailed(exc, progress, verb="metadata push") from exc
    record_stamps(database_url, config.url, plan.stamps, complete=True, models=MODELS)
    return MetadataReport(version.tag, plan, progress)
