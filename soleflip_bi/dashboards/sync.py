"""The shop database as Metabase sees it: the connection, its schema sync and field ids.

Field filters point at Metabase field ids, which exist only after Metabase has synced the
``analytics`` schema; a sync is requested only when a view or column is still missing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from soleflip_bi.dashboards.progress import Progress
from soleflip_bi.metabase.client import MetabaseClient
from soleflip_bi.metabase.config import DATABASE_NAME
from soleflip_bi.metabase.session import find_database
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA

DEFAULT_SYNC_TIMEOUT_SECONDS = 300.0
MAX_POLL_SECONDS = 5.0
DETAILS_COMPARED = (
    "host", "port", "dbname", "user", "ssl", "schema-filters-type", "schema-filters-patterns"
)  # fmt: skip


class SchemaSyncTimeout(RuntimeError):
    """Metabase did not show the analytics views in time."""


def ensure_database(
    client: MetabaseClient, details: dict[str, Any], progress: Progress
) -> tuple[int, bool]:
    """Id of the managed connection (created or corrected when its details differ), and
    whether it was created: Metabase syncs a new connection by itself."""
    found = find_database(client)
    body = {"name": DATABASE_NAME, "engine": "postgres", "details": details}
    if found is None:
        created = client.post("/api/database", {**body, "is_full_sync": True})
        database_id = int(created["id"])
        progress.record("created", f"database connection {DATABASE_NAME!r} (id {database_id})")
        if "ssl" in details and (created.get("details") or {}).get("ssl") != details["ssl"]:
            # Creating tries SSL first and keeps it if it works, whatever was asked; the
            # update saves the details as sent (warehouses/util.clj test-connection-details).
            client.put(f"/api/database/{database_id}", body)
            progress.record("updated", f"database connection (id {database_id}): ssl")
        return database_id, True
    database_id, stored = found
    if not details_readable(stored):
        progress.record(
            "found",
            f"database connection {DATABASE_NAME!r} (id {database_id}); its details are "
            "shown to administrators only, so they are not compared",
        )
        return database_id, False
    differing = details_differing(stored, details)
    if differing:
        kept = {key: stored[key] for key in ("ssl",) if key in stored and key not in details}
        client.put(f"/api/database/{database_id}", {**body, "details": {**kept, **details}})
        progress.record(
            "updated", f"database connection (id {database_id}): {', '.join(differing)}"
        )
    else:
        progress.record("found", f"database connection {DATABASE_NAME!r} (id {database_id})")
    return database_id, False


def details_readable(stored: Mapping[str, Any]) -> bool:
    """Metabase shows a connection's details only to who may edit it: others get none, or
    ``{"metabase/redacted": "db/details"}`` (redact-db-details in the database model)."""
    return "host" in stored and "metabase/redacted" not in stored


def details_differing(stored: Mapping[str, Any], details: Mapping[str, Any]) -> list[str]:
    """The compared details that differ. The password cannot be compared (Metabase never
    returns it), so it is sent only when something else changes; ``ssl`` only when the
    project asks for a mode (``connection_details``)."""
    return [
        key
        for key in DETAILS_COMPARED
        if (key in details or key != "ssl") and stored.get(key) != details.get(key)
    ]


def field_ids(
    client: MetabaseClient,
    database_id: int,
    needed: Mapping[str, set[str]],
    progress: Progress,
    timeout: float = DEFAULT_SYNC_TIMEOUT_SECONDS,
    syncing: bool = False,
) -> dict[tuple[str, str], int]:
    """Metabase field id of every (view, column) in ``needed``; waits for a sync if needed.

    A sync is requested only when something is missing and none is running already.
    """
    fields, missing = lookup_fields(client, database_id, needed)
    if not missing:
        return fields
    if not syncing:
        client.post(f"/api/database/{database_id}/sync_schema")
        progress.record("synced", f"schema of database {database_id} (requested)")
    deadline = time.monotonic() + timeout
    pause = 0.25  # a small schema syncs in a second or two; a large one takes minutes
    while missing:
        if time.monotonic() > deadline:
            raise SchemaSyncTimeout(
                f"Metabase has not synced {', '.join(sorted(missing))} after {timeout:.0f} s; "
                f"check that the views exist and the connection's user can read schema "
                f"{ANALYTICS_SCHEMA}"
            )
        time.sleep(pause)
        pause = min(pause * 2, MAX_POLL_SECONDS)
        fields, missing = lookup_fields(client, database_id, needed)
    return fields


def lookup_fields(
    client: MetabaseClient, database_id: int, needed: Mapping[str, set[str]]
) -> tuple[dict[tuple[str, str], int], set[str]]:
    # Hidden tables are left out unless asked for (GET /api/database/:id/metadata).
    metadata = client.get(
        f"/api/database/{database_id}/metadata", params={"include_hidden": "true"}
    )
    tables = {
        table["name"]: {field["name"]: int(field["id"]) for field in table.get("fields") or []}
        for table in metadata.get("tables") or []
        if table.get("schema") == ANALYTICS_SCHEMA
    }
    found: dict[tuple[str, str], int] = {}
    missing: set[str] = set()
    for view, columns in needed.items():
        for column in sorted(columns) or [None]:
            if view not in tables or (column is not None and column not in tables[view]):
                missing.add(f"{ANALYTICS_SCHEMA}.{view}" + (f".{column}" if column else ""))
            elif column is not None:
                found[(view, column)] = tables[view][column]
    return found, missing
