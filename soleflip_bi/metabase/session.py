"""A logged-in client for a supported Metabase, and the shop database's connection in it."""

from __future__ import annotations

from typing import Any

from soleflip_bi.metabase.client import MetabaseClient
from soleflip_bi.metabase.config import DATABASE_NAME, MetabaseConfig
from soleflip_bi.metabase.versions import MetabaseVersion
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA


def connect(config: MetabaseConfig) -> tuple[MetabaseClient, MetabaseVersion]:
    """A logged-in client, once the version answering is known to be supported."""
    client = MetabaseClient(config)
    version = MetabaseVersion.from_properties(client.get("/api/session/properties"))
    version.check(config.url, api_key=bool(config.api_key))
    client.login()
    return client, version


def find_database(client: MetabaseClient) -> tuple[int, dict[str, Any]] | None:
    """The managed connection's id and stored details, if it exists."""
    listing = client.get("/api/database")
    databases = listing["data"] if isinstance(listing, dict) else listing
    match = next((d for d in databases if d.get("name") == DATABASE_NAME), None)
    if match is None:
        return None
    database_id = int(match["id"])
    return database_id, client.get(f"/api/database/{database_id}").get("details") or {}


def analytics_tables(client: MetabaseClient, database_id: int) -> dict[str, dict[str, Any]]:
    """The analytics tables as Metabase holds them, with their fields, hidden ones included."""
    metadata = client.get(
        f"/api/database/{database_id}/metadata", params={"include_hidden": "true"}
    )
    return {
        table["name"]: table
        for table in metadata.get("tables") or []
        if table.get("schema") == ANALYTICS_SCHEMA
    }
