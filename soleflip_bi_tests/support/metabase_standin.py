"""A stand-in for Metabase's REST API, for tests only: Metabase (a JVM server with its own
application database) cannot run here.

It keeps state across calls and implements the endpoints ``soleflip_bi.dashboards`` uses
the way a given Metabase release answers them (``release``: 47, 48, 50, 53, 57, ...). Each
behaviour that depends on the release, and each one a client can get wrong, names in a
comment the Metabase source file (repository metabase/metabase) or API document it
follows. Beyond that: the server assigns ids, returns objects with keys of its own,
redacts passwords, validates field ids and dashcard references, and its schema sync reads
the real PostgreSQL database that the connection points at, in a background thread and
after a delay (Metabase's sync is asynchronous). Every request is logged, so a test can
count the calls that change state.

Request bodies are checked against the keys each endpoint's schema declares. Metabase
ignores an unknown key silently (older endpoints whitelist what they write, newer ones use
open malli maps, the newest strip undeclared keys); the stand-in refuses one with 400, so
a client can never rely on a key that some release would drop without a word (as 0.47
drops ``dashcards``).
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

REDACTED = "**MetabasePass**"
# check-superuser -> check-403 with generic-403 (src/metabase/api/common.clj)
NO_PERMISSION = "You don't have permissions to do that."
ADMIN = {"id": 1, "email": "admin@example.com", "first_name": "Ada", "last_name": "Admin"}
ANALYST = {"id": 2, "email": "jane@example.com", "first_name": "Jane", "last_name": "Doe"}

# The keys each request body may hold, from the endpoint's schema in the release's source:
# POST/PUT /api/card: src/metabase/queries/api/card.clj (src/metabase/api/card.clj before 0.54)
CARD_KEYS = {
    "name", "type", "dataset_query", "parameters", "parameter_mappings", "description",
    "display", "visualization_settings", "collection_id", "collection_position",
    "result_metadata", "cache_ttl", "archived", "enable_embedding", "embedding_params",
    "collection_preview", "dashboard_id", "dashboard_tab_id",
}  # fmt: skip
# POST/PUT /api/dashboard(/:id): src/metabase/dashboards/api.clj (src/metabase/api/dashboard.clj)
DASHBOARD_KEYS = {
    "name", "description", "parameters", "cache_ttl", "collection_id", "collection_position",
    "caveats", "points_of_interest", "show_in_getting_started", "enable_embedding",
    "embedding_params", "position", "width", "archived", "auto_apply_filters", "dashcards",
    "tabs",
}  # fmt: skip
DASHCARD_KEYS = {
    "id", "card_id", "row", "col", "size_x", "size_y", "parameter_mappings", "series",
    "visualization_settings", "dashboard_tab_id", "action_id", "inline_parameters",
}  # fmt: skip
# POST /api/collection: src/metabase/collections/api.clj (src/metabase/api/collection.clj)
COLLECTION_KEYS = {"name", "description", "parent_id", "namespace", "authority_level"}
# POST/PUT /api/database(/:id): src/metabase/warehouses/api.clj (src/metabase/api/database.clj)
DATABASE_KEYS = {
    "name", "engine", "details", "is_full_sync", "is_on_demand", "schedules",
    "auto_run_queries", "cache_ttl", "connection_source", "description", "caveats",
    "points_of_interest", "refingerprint", "settings",
}  # fmt: skip


# PUT /api/table/:id and PUT /api/field/:id: the keys each accepts, as the endpoint schemas
# declare them (src/metabase/api/table.clj and field.clj; the later namespaces keep them),
# and the values of the enumerations they check.
TABLE_KEYS = {
    "display_name", "description", "visibility_type", "entity_type", "caveats",
    "points_of_interest", "show_in_getting_started", "field_order",
}  # fmt: skip
TABLE_VISIBILITY = ("hidden", "technical", "cruft")
FIELD_KEYS = {
    "display_name", "description", "semantic_type", "visibility_type", "fk_target_field_id",
    "has_field_values", "coercion_strategy", "caveats", "points_of_interest", "settings",
    "nfc_path", "json_unfolding",
}  # fmt: skip
# metabase.models.field/visibility-types (later lib.schema.metadata/column-visibility-types)
FIELD_VISIBILITY = ("normal", "details-only", "hidden", "sensitive", "retired")
SEMANTIC_TYPES = {
    "type/PK", "type/FK", "type/Currency", "type/Percentage", "type/Quantity",
    "type/Category", "type/Name", "type/City", "type/Country", "type/State", "type/Title",
    "type/Description", "type/Score", "type/Price", "type/Discount", "type/Income",
}  # fmt: skip


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any
    query: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Failure:
    method: str
    path: str
    status: int
    message: str
    after: int = 0  # let this many matching calls through first


class StandInError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status, body)
        self.status, self.body = status, body


@dataclass
class MetabaseStandIn:
    release: int = 50  # the 50 of v0.50.x
    api_key: str = "test-api-key"
    user: str = "admin@example.com"
    password: str = "metabase-admin-password"
    admin: bool = True  # whether the key's / user's group is Administrators
    ssl_available: bool = True  # whether the PostgreSQL server "accepts" SSL
    premium: bool = False  # a token with "cache granular controls" (Pro / Enterprise)
    cached: bool = True  # whether any card has a cached result to drop
    caching: bool = True  # the enable-query-caching setting
    sync_delay: float = 0.2
    calls: list[Call] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    databases: dict[int, dict[str, Any]] = field(default_factory=dict)
    tables: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    collections: dict[int, dict[str, Any]] = field(default_factory=dict)
    cards: dict[int, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[int, dict[str, Any]] = field(default_factory=dict)
    invalidated: list[int] = field(default_factory=list)  # cards whose cache was dropped

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._field_ids: dict[tuple[int, str, str, str], int] = {}
        self._sessions: set[str] = set()
        self._server: ThreadingHTTPServer | None = None
        self._hidden: set[str] = set()
        # Every user has a personal collection; an administrator sees all of them
        # (GET /api/collection, src/metabase/collections/api.clj).
        personal = {"id": next(self._ids), "name": "Ada Admin's Personal Collection",
                    "location": "/", "archived": False, "personal_owner_id": ADMIN["id"],
                    "is_personal": True, "description": None}  # fmt: skip
        self.collections[personal["id"]] = personal
        self.personal_collection_id = personal["id"]

    @property
    def tag(self) -> str:
        return f"v0.{self.release}.2"

    # -- test API ------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not serving; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @contextmanager
    def running(self) -> Iterator[MetabaseStandIn]:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()

    def mutations(self) -> list[Call]:
        """Calls that create or change something (logging in does not)."""
        return [c for c in self.calls if c.method != "GET" and c.path != "/api/session"]

    def calls_to(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    def fail(self, method: str, path: str, status: int, message: str, after: int = 0) -> None:
        self.failures.append(Failure(method, path, status, message, after))

    def edit(self, model: str, object_id: int, **changes: Any) -> dict[str, Any]:
        """What a person does in Metabase's editor: saves the object, which makes a revision
        (``last-edit-info``) and moves ``updated_at``."""
        with self._lock:
            store = self.cards if model == "card" else self.dashboards
            obj = store[object_id]
            obj.update(copy.deepcopy(changes))
            self._saved(obj, ANALYST)
            return obj

    def move_cards_into_dashboards(self) -> int:
        """The 0.53+ "move these questions into the dashboard" action for every card that
        sits on exactly one dashboard: it gets that ``dashboard_id`` and the dashboard's
        collection (report_card.dashboard_id, migration v52.2024-12-10T10:28:16; offered in
        0.53, docs/questions/introduction.md: "Questions that live in a dashboard are only
        visible in that dashboard")."""
        if self.release < 53:
            raise RuntimeError(f"Metabase 0.{self.release} has no dashboard questions")
        with self._lock:
            on: dict[int, set[int]] = {}
            for dashboard in self.dashboards.values():
                for dashcard in dashboard["dashcards"]:
                    on.setdefault(dashcard["card_id"], set()).add(dashboard["id"])
            moved = 0
            for card_id, dashboard_ids in on.items():
                if len(dashboard_ids) == 1:
                    [dashboard_id] = dashboard_ids
                    card = self.cards[card_id]
                    card["dashboard_id"] = dashboard_id
                    card["collection_id"] = self.dashboards[dashboard_id]["collection_id"]
                    self._saved(card, ANALYST)
                    moved += 1
            return moved

    def hide_table(self, name: str) -> None:
        """Admin > Table Metadata > "Hidden": the table's visibility_type becomes hidden."""
        self._hidden.add(name)

    # -- dispatch ------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers, body: Any):
        with self._lock:
            self.calls.append(Call(method, path, body, query))
            for failure in self.failures:
                if failure.method == method and failure.path == path:
                    if failure.after == 0:
                        self.failures.remove(failure)
                        raise StandInError(failure.status, {"message": failure.message})
                    failure.after -= 1
            caller = None
            if path not in ("/api/session", "/api/session/properties"):
                caller = self._authenticate(headers)
            elif path == "/api/session/properties":
                caller = self._authenticated(headers)
            for route_method, pattern, action in self._routes():
                match = re.fullmatch(pattern, path)
                if match and route_method == method:
                    self._caller = caller
                    return action(*map(int, match.groups()), query=query, body=body)
            raise StandInError(404, "API endpoint does not exist.")

    def _routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        return [
            ("GET", r"/api/session/properties", self._properties),
            ("POST", r"/api/session", self._login),
            ("GET", r"/api/database", self._list_databases),
            ("POST", r"/api/database", self._create_database),
            ("GET", r"/api/database/(\d+)", self._get_database),
            ("PUT", r"/api/database/(\d+)", self._update_database),
            ("POST", r"/api/database/(\d+)/sync_schema", self._sync_schema),
            ("GET", r"/api/database/(\d+)/metadata", self._metadata),
            ("GET", r"/api/collection", self._list_collections),
            ("POST", r"/api/collection", self._create_collection),
            ("GET", r"/api/collection/(\d+)/items", self._collection_items),
            ("POST", r"/api/card", self._create_card),
            ("GET", r"/api/card", self._list_cards),
            ("GET", r"/api/card/(\d+)", self._get_card),
            ("DELETE", r"/api/card/(\d+)", self._delete_card),
            ("PUT", r"/api/card/(\d+)", self._update_card),
            ("POST", r"/api/dashboard", self._create_dashboard),
            ("GET", r"/api/dashboard/(\d+)", self._get_dashboard),
            ("PUT", r"/api/dashboard/(\d+)", self._update_dashboard),
            ("POST", r"/api/cache/invalidate", self._invalidate_cache),
            ("PUT", r"/api/table/(\d+)", self._update_table),
            ("PUT", r"/api/field/(\d+)", self._update_field),
        ]

    def _authenticated(self, headers) -> dict[str, Any] | None:
        try:
            return self._authenticate(headers)
        except StandInError:
            return None

    def _authenticate(self, headers) -> dict[str, Any]:
        # API keys (the X-API-Key header) exist from 0.49; before, the header means nothing
        # (merge-current-user-info in src/metabase/server/middleware/session.clj reads
        # x-api-key; the v0.49 docs' "API keys" page).
        if self.release >= 49 and headers.get("x-api-key") == self.api_key:
            return ADMIN
        if headers.get("X-Metabase-Session") in self._sessions:
            return ADMIN
        raise StandInError(401, "Unauthenticated")

    def _require_admin(self) -> None:
        # Creating or editing a connection and syncing it is for superusers only
        # (api/check-superuser in the database API namespace).
        if not self.admin:
            raise StandInError(403, NO_PERMISSION)  # a plain-text body

    # -- sessions and databases ------------------------------------------------------

    def _properties(self, *, query, body) -> dict[str, Any]:
        # Public settings, readable without a session (GET /api/session/properties,
        # src/metabase/session/api.clj); ``version`` is the :version setting
        # (src/metabase/version/settings.clj: {:tag "v0.50.2" :date ... :hash ...}).
        properties = {"version": {"tag": self.tag, "date": "2026-01-01", "branch": "release",
                                  "hash": "0123abc"}, "site-name": "Stand-in"}  # fmt: skip
        if self._caller is not None:
            # enable-query-caching has :visibility :authenticated: shown to a session only.
            properties["enable-query-caching"] = self.caching
        return properties

    def _login(self, *, query, body) -> dict[str, Any]:
        if body.get("username") != self.user or body.get("password") != self.password:
            raise StandInError(401, {"errors": {"password": "did not match stored password"}})
        token = str(uuid.uuid4())
        self._sessions.add(token)
        return {"id": token}

    def _list_databases(self, *, query, body) -> dict[str, Any]:
        data = [self._public_database(d) for d in self.databases.values()]
        return {"data": data, "total": len(data)}

    def _create_database(self, *, query, body) -> dict[str, Any]:
        self._require_admin()
        _closed(body, DATABASE_KEYS)
        _require(body, "name", "engine", "details")
        details = self._tested_details(dict(body["details"]))
        database = {"id": next(self._ids), "name": body["name"], "engine": body["engine"],
                    "details": details, "is_full_sync": True}  # fmt: skip
        self.databases[database["id"]] = database
        self.tables[database["id"]] = []
        self._schedule_sync(database["id"])  # Metabase syncs a new connection by itself
        return self._public_database(database)

    def _tested_details(self, details: dict[str, Any]) -> dict[str, Any]:
        # Before creating a connection, Metabase tests it with SSL first when the driver has
        # an ``ssl`` property (postgres does) and keeps ``ssl true`` when that works, whatever
        # was asked ("test-connection-details", src/metabase/warehouses/util.clj, called by
        # POST /api/database in src/metabase/warehouses_rest/api.clj; api/database.clj in
        # older releases). PUT /api/database/:id only tests them, with no SSL retry.
        if not details.get("ssl") and self.ssl_available:
            details["ssl"] = True
        return details

    def _get_database(self, database_id: int, *, query, body) -> dict[str, Any]:
        return self._public_database(self._find(self.databases, database_id))

    def _update_database(self, database_id: int, *, query, body) -> dict[str, Any]:
        self._require_admin()
        _closed(body, DATABASE_KEYS)
        database = self._find(self.databases, database_id)
        # The details sent are merged into the stored ones, a redacted password keeps the
        # stored one (upsert-sensitive-fields: "(merge (:details database) details)").
        details = {**database["details"], **(body.get("details") or {})}
        if details.get("password") == REDACTED:
            details["password"] = database["details"].get("password")
        database.update({k: v for k, v in body.items() if k != "details"}, details=details)
        return self._public_database(database)

    def _sync_schema(self, database_id: int, *, query, body) -> dict[str, Any]:
        self._require_admin()
        self._find(self.databases, database_id)
        self._schedule_sync(database_id)
        return {"status": "ok"}

    def _metadata(self, database_id: int, *, query, body) -> dict[str, Any]:
        # Tables whose visibility_type is set (hidden, technical, cruft) are left out unless
        # include_hidden=true (GET /api/database/:id/metadata,
        # src/metabase/warehouses_rest/api.clj; src/metabase/api/database.clj before).
        include_hidden = query.get("include_hidden") == ["true"]
        database = self._public_database(self._find(self.databases, database_id))
        tables = [
            {**copy.deepcopy(t), "visibility_type": "hidden" if t["name"] in self._hidden else None}
            for t in self.tables[database_id]
            if include_hidden or t["name"] not in self._hidden
        ]
        return {**database, "tables": tables}

    def _public_database(self, database: dict[str, Any]) -> dict[str, Any]:
        public = copy.deepcopy(database)
        if not self.admin:
            # Details are for who may edit the connection (redact-db-details,
            # src/metabase/warehouses/models/database.clj); older releases leave them out.
            public["details"] = {"metabase/redacted": "db/details"}
            return public
        if public["details"].get("password"):
            public["details"]["password"] = REDACTED
        return public

    def _schedule_sync(self, database_id: int) -> None:
        def sync() -> None:
            time.sleep(self.sync_delay)
            details = self.databases[database_id]["details"]
            tables = _read_schema(details)
            with self._lock:
                known = {t["id"]: t for t in self.tables[database_id]}
                self.tables[database_id] = [
                    self._table(database_id, schema, name, relation, known)
                    for (schema, name), relation in sorted(tables.items())
                ]

        threading.Thread(target=sync, daemon=True).start()

    def _table(self, database_id: int, schema: str, name: str, relation, known):
        """A table as a sync leaves it. What it reads from PostgreSQL goes only where the
        value is blank: a table's description from its comment and a field's from the
        column comment, "only sync comment if old value was blank"
        (src/metabase/sync/sync_metadata/fields/sync_metadata.clj, tables.clj); the
        PostgreSQL driver's describe-fields-sql selects no comment for the columns of a
        materialized view (relkind 'm', src/metabase/driver/postgres.clj). Display names are
        humanized once, when the table or field is new (sync_instances.clj
        insert-new-fields! with humanization), and a semantic type is guessed from the name
        only for a new field (src/metabase/analyze/classifiers/name.clj); later syncs keep
        whatever an admin or a push set."""
        table_id = self._field_id(database_id, schema, name, "")
        old = known.get(table_id)
        old_fields = {f["name"]: f for f in (old or {}).get("fields") or []}
        fields = []
        for column, data_type, comment in relation["columns"]:
            field_id = self._field_id(database_id, schema, name, column)
            if column in old_fields:
                kept = {**old_fields[column], "database_type": data_type}
                if old_fields[column].get("database_type") != data_type and kept.get(
                    "semantic_type"
                ) not in ("type/PK", "type/FK"):
                    # Another type: the fingerprint is reset and the field analysed again,
                    # its semantic type guessed from the name once more
                    # (sync_metadata/fields/sync_metadata.clj; classifiers/name.clj).
                    kept["semantic_type"] = _guessed_type(column)
                if not kept.get("description") and relation["kind"] != "m":
                    kept["description"] = comment
                fields.append(kept)
                continue
            fields.append(
                {"id": field_id, "name": column, "table_id": table_id,
                 "database_type": data_type, "base_type": "type/*",
                 "display_name": column.replace("_", " ").title(),
                 "description": comment if relation["kind"] != "m" else None,
                 "semantic_type": _guessed_type(column), "fk_target_field_id": None,
                 "visibility_type": "normal", "settings": None}
            )  # fmt: skip
        if old is not None:
            return {**old, "fields": fields,
                    "description": old.get("description") or relation["comment"]}  # fmt: skip
        return {"id": table_id, "db_id": database_id, "schema": schema, "name": name,
                "display_name": name.replace("_", " ").title(), "fields": fields,
                "description": relation["comment"], "visibility_type": None}  # fmt: skip

    def _update_table(self, table_id: int, *, query, body) -> dict[str, Any]:
        self._require_admin()
        _closed(body, TABLE_KEYS)
        table = self._find_table(table_id)
        if body.get("visibility_type") not in (None, *TABLE_VISIBILITY):
            raise StandInError(400, {"errors": {"visibility_type": "invalid value"}})
        table.update(copy.deepcopy(body))
        return {k: copy.deepcopy(v) for k, v in table.items() if k != "fields"}

    def _update_field(self, field_id: int, *, query, body) -> dict[str, Any]:
        self._require_admin()
        _closed(body, FIELD_KEYS)
        stored = self._find_field(field_id)
        semantic = body.get("semantic_type", stored.get("semantic_type"))
        if semantic is not None and semantic not in SEMANTIC_TYPES:
            raise StandInError(400, {"errors": {"semantic_type": "invalid semantic type"}})
        if body.get("visibility_type", "normal") not in FIELD_VISIBILITY:
            raise StandInError(400, {"errors": {"visibility_type": "invalid value"}})
        target = body.get("fk_target_field_id")
        if target is not None:
            self._find_field(target)
        stored.update(copy.deepcopy(body))
        if stored.get("semantic_type") != "type/FK":
            # Leaving type/FK clears the target (removed-fk-semantic-type? in the field API
            # namespace: "clear-dimension-on-fk-change!" and fk_target_field_id nil).
            stored["fk_target_field_id"] = None
        return copy.deepcopy(stored)

    def _find_table(self, table_id: int) -> dict[str, Any]:
        for tables in self.tables.values():
            for table in tables:
                if table["id"] == table_id:
                    return table
        raise StandInError(404, "Not found.")

    def _find_field(self, field_id: int) -> dict[str, Any]:
        for tables in self.tables.values():
            for table in tables:
                for column in table["fields"]:
                    if column["id"] == field_id:
                        return column
        raise StandInError(404, "Not found.")

    def field_synced_as(self, table: str, column: str, database_type: str) -> None:
        """As if Metabase's last sync had seen the column with ``database_type`` (before
        a rebuild retyped it); the next sync (``sync_now``) finds the type changed."""
        with self._lock:
            for tables in self.tables.values():
                for t in tables:
                    if t["name"] == table:
                        field = next(f for f in t["fields"] if f["name"] == column)
                        field["database_type"] = database_type

    def sync_now(self) -> None:
        [database_id] = self.databases
        self._schedule_sync(database_id)

    def analyst_edits_field(self, table: str, column: str, **changes: Any) -> None:
        """What an analyst does in Admin > Table Metadata: the field is saved with new
        values (Metabase keeps no editor or revision for fields)."""
        with self._lock:
            for tables in self.tables.values():
                for t in tables:
                    if t["name"] == table:
                        next(f for f in t["fields"] if f["name"] == column).update(changes)
                        return
        raise KeyError(table)

    def _field_id(self, database_id: int, schema: str, table: str, column: str) -> int:
        key = (database_id, schema, table, column)
        if key not in self._field_ids:
            self._field_ids[key] = next(self._ids)
        return self._field_ids[key]

    # -- collections, cards, dashboards ---------------------------------------------------

    def _list_collections(self, *, query, body) -> list[dict[str, Any]]:
        root = {"id": "root", "name": "Our analytics", "can_write": True}
        return [root, *copy.deepcopy(list(self.collections.values()))]

    def _create_collection(self, *, query, body) -> dict[str, Any]:
        _closed(body, COLLECTION_KEYS)
        _require(body, "name")
        parent = body.get("parent_id")
        location = "/" if parent is None else self._find(self.collections, parent)["location"]
        location = location if parent is None else f"{location}{parent}/"
        collection = {"id": next(self._ids), "name": body["name"],
                      "description": body.get("description"), "location": location,
                      "archived": False, "personal_owner_id": None,
                      "is_personal": False}  # fmt: skip
        self.collections[collection["id"]] = collection
        return copy.deepcopy(collection)

    def _collection_items(self, collection_id: int, *, query, body) -> dict[str, Any]:
        self._find(self.collections, collection_id)
        models = query.get("models") or ["card", "dashboard"]
        # From 0.53 a card moved into its dashboard is not an item of the collection unless
        # show_dashboard_questions=true (src/metabase/collections_rest/api.clj, card-query:
        # "(when-not show-dashboard-questions? [:= :c.dashboard_id nil])").
        with_dashboard_questions = query.get("show_dashboard_questions") == ["true"]
        items = [
            {"id": obj["id"], "name": obj["name"], "description": obj.get("description"),
             "model": model}
            for model, store in (("card", self.cards), ("dashboard", self.dashboards))
            if model in models
            for obj in store.values()
            if obj.get("collection_id") == collection_id and not obj.get("archived")
            and (model != "card" or obj.get("dashboard_id") is None or with_dashboard_questions)
        ]  # fmt: skip
        return {"total": len(items), "data": items, "models": models}

    def _create_card(self, *, query, body) -> dict[str, Any]:
        _closed(body, CARD_KEYS)
        _require(body, "name", "display", "visualization_settings", "dataset_query")
        self._validate_query(body["dataset_query"])
        self._check_collection(body.get("collection_id"))
        card = {**copy.deepcopy(body), "id": next(self._ids), "archived": False,
                "type": "question", "creator_id": 1, "parameters": [],
                "dashboard_id": None}  # fmt: skip
        self._saved(card, self._caller)
        self.cards[card["id"]] = card
        return self._public_card(card, legacy=False)

    def _get_card(self, card_id: int, *, query, body) -> dict[str, Any]:
        legacy = query.get("legacy-mbql") == ["true"]
        public = self._public_card(self._find(self.cards, card_id), legacy=legacy)
        # GET /api/card/:id hydrates the collection, the root one as a placeholder
        # (collection.root/hydrate-root-collection, "Our analytics" with id "root").
        return {**public, "collection": self._collection_of(public, root=True)}

    def _list_cards(self, *, query, body) -> list[dict[str, Any]]:
        # GET /api/card: ``f`` "all" by default, which selects the cards not archived, then
        # hydrates :creator and :collection (nil for the root collection); queries in MBQL 5
        # from 0.57, with no legacy flag on this endpoint
        # (src/metabase/queries_rest/api/card.clj, cards-for-filter-option).
        archived = (query.get("f") or ["all"])[0] == "archived"
        return [
            {**(public := self._public_card(card, legacy=False)),
             "collection": self._collection_of(public, root=False)}
            for card in sorted(self.cards.values(), key=lambda c: c["name"])
            if bool(card.get("archived")) == archived
        ]  # fmt: skip

    def _delete_card(self, card_id: int, *, query, body) -> None:
        # DELETE /api/card/:id deletes the row (t2/delete!) and answers 204; the card is a
        # 404 from then on (api/read-check). Before 0.50 the endpoint is marked deprecated
        # in favour of archiving, but deletes the same way.
        self._find(self.cards, card_id)
        del self.cards[card_id]
        return None

    def _collection_of(self, card: dict[str, Any], root: bool) -> dict[str, Any] | None:
        collection_id = card.get("collection_id")
        if collection_id is None:
            return {"id": "root", "name": "Our analytics"} if root else None
        found = self.collections.get(collection_id)
        return {k: found[k] for k in ("id", "name", "location")} if found else None

    def analyst_saves_question(
        self,
        name: str,
        dataset_query: dict[str, Any],
        *,
        kind: str = "question",
        collection: str | None = None,
    ) -> int:
        """What an analyst does with the query builder or the SQL editor: a card saved by
        the analyst, in ``collection`` (made if missing; None: Our analytics), with the query
        in the legacy form the frontend posts and every release accepts."""
        with self._lock:
            self._validate_query(dataset_query)
            collection_id = None
            if collection is not None:
                existing = [c for c in self.collections.values() if c["name"] == collection]
                if existing:
                    collection_id = existing[0]["id"]
                else:
                    collection_id = next(self._ids)
                    self.collections[collection_id] = {
                        "id": collection_id, "name": collection, "description": None,
                        "location": "/", "archived": False, "personal_owner_id": None,
                        "is_personal": False}  # fmt: skip
            card = {"id": next(self._ids), "name": name, "type": kind, "description": None,
                    "display": "table", "visualization_settings": {},
                    "dataset_query": copy.deepcopy(dataset_query),
                    "collection_id": collection_id, "archived": False, "creator_id": 2,
                    "parameters": [], "dashboard_id": None,
                    "database_id": dataset_query["database"]}  # fmt: skip
            self._saved(card, ANALYST)
            self.cards[card["id"]] = card
            return card["id"]

    def analyst_deletes_question(self, card_id: int) -> None:
        with self._lock:
            del self.cards[card_id]

    def _update_card(self, card_id: int, *, query, body) -> dict[str, Any]:
        _closed(body, CARD_KEYS)
        card = self._find(self.cards, card_id)
        if "dataset_query" in body:
            self._validate_query(body["dataset_query"])
        if card.get("dashboard_id") is not None and "collection_id" in body:
            # A dashboard question stays in its dashboard's collection: the card model refuses
            # another one (src/metabase/queries/models/card.clj, before-update).
            dashboard = self.dashboards[card["dashboard_id"]]
            if body["collection_id"] != dashboard["collection_id"]:
                raise StandInError(400, "A dashboard question stays in its dashboard's collection")
        card.update(copy.deepcopy(body))
        self._saved(card, self._caller)
        return self._public_card(card, legacy=False)

    def _public_card(self, card: dict[str, Any], legacy: bool) -> dict[str, Any]:
        # From 0.57 queries are returned in MBQL 5, or legacy with ?legacy-mbql=true
        # (GET /api/card/:id, src/metabase/queries_rest/api/card.clj: "As of v57, returns
        # ... as MBQL 5"; docs/developers-guide/api-changelog.md). Legacy input is accepted
        # by every release (src/metabase/lib_be/models/transforms.clj).
        public = copy.deepcopy(card)
        if self.release >= 57 and not legacy:
            public["dataset_query"] = _mbql5(public["dataset_query"])
        # A model is ``type: "model"`` from 0.49, ``dataset: true`` before; 0.49 returns both
        # (PR #38074 kept them interchangeable), 0.50 dropped ``dataset`` (PR #38981;
        # docs/developers-guide/api-changelog.md, 0.49).
        kind = public.pop("type", "question")
        if self.release <= 49:
            public["dataset"] = kind == "model"
        if self.release >= 49:
            public["type"] = kind
        return public

    def _create_dashboard(self, *, query, body) -> dict[str, Any]:
        _closed(body, DASHBOARD_KEYS - {"dashcards", "tabs"})
        _require(body, "name")
        self._check_collection(body.get("collection_id"))
        dashboard = {"id": next(self._ids), "name": body["name"],
                     "description": body.get("description"),
                     "collection_id": body.get("collection_id"),
                     "parameters": copy.deepcopy(body.get("parameters") or []),
                     "archived": False, "dashcards": [], "tabs": []}  # fmt: skip
        self._saved(dashboard, self._caller)
        self.dashboards[dashboard["id"]] = dashboard
        return self._public_dashboard(dashboard, with_dashcards=False)

    def _get_dashboard(self, dashboard_id: int, *, query, body) -> dict[str, Any]:
        return self._public_dashboard(self._find(self.dashboards, dashboard_id))

    def _update_dashboard(self, dashboard_id: int, *, query, body) -> dict[str, Any]:
        _closed(body, DASHBOARD_KEYS)
        dashboard = self._find(self.dashboards, dashboard_id)
        changes = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("dashcards", "tabs")}
        parameter_ids = {p["id"] for p in changes.get("parameters", dashboard["parameters"])}
        # Before 0.48 this endpoint writes only the dashboard's own columns
        # (u/select-keys-when in src/metabase/api/dashboard.clj) and drops ``dashcards``
        # without a word; 0.48 replaces the whole set (negative ids are new dashcards).
        if "dashcards" in body and self.release >= 48:
            dashboard["dashcards"] = self._replace_dashcards(
                dashboard, body["dashcards"], parameter_ids
            )
        dashboard.update(changes)
        self._saved(dashboard, self._caller)
        return self._public_dashboard(dashboard)

    def _replace_dashcards(self, dashboard, dashcards: list[dict[str, Any]], parameter_ids):
        ids = [dc["id"] for dc in dashcards]
        if len(ids) != len(set(ids)):
            raise StandInError(400, {"errors": {"dashcards": "ids must be unique"}})
        existing = {dc["id"] for dc in dashboard["dashcards"]}
        replaced = []
        for dashcard in dashcards:
            _closed(dashcard, DASHCARD_KEYS)
            _require(dashcard, "id", "card_id", "row", "col", "size_x", "size_y")
            card = self._find(self.cards, dashcard["card_id"])
            if card.get("dashboard_id") not in (None, dashboard["id"]):
                # A dashboard question can be on its own dashboard only
                # (assert-dashcards-are-not-internal-to-other-dashboards,
                # src/metabase/dashboards_rest/api.clj).
                raise StandInError(400, f"card {card['id']} belongs to another dashboard")
            if dashcard["id"] >= 0 and dashcard["id"] not in existing:
                raise StandInError(404, f"dashcard {dashcard['id']} is not on this dashboard")
            for mapping in dashcard.get("parameter_mappings") or []:
                if mapping["parameter_id"] not in parameter_ids:
                    raise StandInError(400, f"unknown parameter {mapping['parameter_id']}")
            stored = copy.deepcopy(dashcard)
            if stored["id"] < 0:
                stored["id"] = next(self._ids)
            stored.update(dashboard_id=dashboard["id"], dashboard_tab_id=None, action_id=None)
            replaced.append(stored)
        return replaced

    def _public_dashboard(self, dashboard, with_dashcards: bool = True) -> dict[str, Any]:
        public = copy.deepcopy(dashboard)
        if not with_dashcards:
            public.pop("dashcards")
            return public
        for dashcard in public["dashcards"]:
            dashcard["card"] = self._public_card(self.cards[dashcard["card_id"]], legacy=False)
            if self.release >= 57:
                for mapping in dashcard.get("parameter_mappings") or []:
                    mapping["target"] = [*mapping["target"][:2], {"stage-number": 0}]
        return public

    def _saved(self, obj: dict[str, Any], by: dict[str, Any] | None) -> None:
        """Every save moves ``updated_at`` (the models' :hook/timestamped?) and makes a
        revision, shown as ``last-edit-info`` {id, email, first_name, last_name, timestamp}
        read from the revision table (GET /api/revision?entity=card&id=N lists them)."""
        now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        obj["updated_at"] = now
        obj.setdefault("created_at", now)
        obj["last-edit-info"] = {**(by or ADMIN), "timestamp": now}

    def _invalidate_cache(self, *, query, body) -> dict[str, Any]:
        # POST /api/cache/invalidate?question=ID... (query parameters) from 0.50, in the
        # open-source tree (src/metabase/cache/api.clj; src/metabase/api/cache.clj at first)
        # but answering 402 without the "cache granular controls" feature
        # (premium-features/ee-feature-error); 404 "Nothing to invalidate." when no entry.
        if self.release < 50:
            raise StandInError(404, "API endpoint does not exist.")
        if not self.premium:
            raise StandInError(402, {"message": "Granular Caching is a paid feature not "
                                     "currently available to your instance. Please upgrade to "
                                     "use it. Learn more at metabase.com/upgrade/"})  # fmt: skip
        ids = [int(i) for i in query.get("question") or []]
        for card_id in ids:
            self._find(self.cards, card_id)
        if not self.cached:
            raise StandInError(404, "Nothing to invalidate.")
        self.invalidated.extend(ids)
        return {"count": len(ids), "message": f"Invalidated cache for {len(ids)} queries"}

    # -- validation ------------------------------------------------------------------

    def _validate_query(self, dataset_query: dict[str, Any]) -> None:
        database_id = dataset_query.get("database")
        self._find(self.databases, database_id)
        known = {f["id"] for t in self.tables[database_id] for f in t["fields"]}
        tables = {t["id"] for t in self.tables[database_id]}
        if dataset_query.get("type") == "query":
            # A structured query reads a table of the database or another card
            # ("card__12", ::SourceTable in src/metabase/legacy_mbql/schema.cljc); every
            # field ref must name a field that exists.
            source = dataset_query["query"].get("source-table")
            if isinstance(source, str) and source.startswith("card__"):
                self._find(self.cards, int(source.removeprefix("card__")))
            elif source not in tables:
                raise StandInError(400, f"table {source} does not exist")
            for ref in _field_refs(dataset_query["query"]):
                if ref[1] not in known:
                    raise StandInError(400, f"field {ref[1]} does not exist")
            return
        if dataset_query.get("type") != "native":
            raise StandInError(400, {"errors": {"dataset_query": "a native or structured query"}})
        for tag in dataset_query["native"].get("template-tags", {}).values():
            if tag.get("type") == "dimension" and tag["dimension"][1] not in known:
                raise StandInError(400, f"field {tag['dimension'][1]} does not exist")

    def _check_collection(self, collection_id: int | None) -> None:
        if collection_id is not None:
            self._find(self.collections, collection_id)

    @staticmethod
    def _find(store: dict[int, dict[str, Any]], object_id: Any) -> dict[str, Any]:
        if object_id not in store:
            raise StandInError(404, "Not found.")
        return store[object_id]


def _mbql5(query: dict[str, Any]) -> dict[str, Any]:
    """A legacy query as 0.57+ returns it (src/metabase/lib/convert.cljc ``->pMBQL``;
    test/metabase/lib/convert_test.cljc): one stage; a native stage keeps its SQL and its
    tags, each dimension a field ref with an options map first; a structured stage has
    ``source-table`` (or ``source-card`` for "card__12"), ``filters`` for ``filter``, and
    every clause with an options map (``lib/uuid``) after its operator."""
    if query.get("type") == "native":
        tags = copy.deepcopy(query["native"].get("template-tags") or {})
        for tag in tags.values():
            if tag.get("type") == "dimension":
                tag["dimension"] = _clause5(tag["dimension"])
        stage = {"lib/type": "mbql.stage/native", "native": query["native"]["query"],
                 "template-tags": tags}  # fmt: skip
    else:
        inner = copy.deepcopy(query["query"])
        stage = {"lib/type": "mbql.stage/mbql"}
        source = inner.pop("source-table")
        if isinstance(source, str) and source.startswith("card__"):
            stage["source-card"] = int(source.removeprefix("card__"))
        else:
            stage["source-table"] = source
        if "filter" in inner:
            stage["filters"] = [_clause5(inner.pop("filter"))]
        for key, value in inner.items():
            stage[key] = [_clause5(v) for v in value] if isinstance(value, list) else value
    return {"lib/type": "mbql/query", "database": query["database"], "stages": [stage]}


def _clause5(clause: Any) -> Any:
    if not (isinstance(clause, list) and clause and isinstance(clause[0], str)):
        return clause
    options = {"lib/uuid": str(uuid.uuid4())}
    if clause[0] == "field":
        _, field_id, legacy_options = (*clause, None)[:3]
        return ["field", {**options, "base-type": "type/*", **(legacy_options or {})}, field_id]
    return [clause[0], options, *(_clause5(arg) for arg in clause[1:])]


def _field_refs(value: Any) -> Iterator[list[Any]]:
    if isinstance(value, list):
        if len(value) >= 2 and value[0] == "field" and isinstance(value[1], int):
            yield value
        else:
            for item in value:
                yield from _field_refs(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _field_refs(item)


def configure(standin: MetabaseStandIn, monkeypatch) -> None:
    """Point the project's Metabase settings at ``standin``: an API key where the release
    has them, a user and password before."""
    for name in ("METABASE_USER", "METABASE_PASSWORD", "METABASE_DB_USER", "METABASE_DB_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("METABASE_URL", standin.url)
    if standin.release >= 49:
        monkeypatch.setenv("METABASE_API_KEY", standin.api_key)
    else:
        monkeypatch.delenv("METABASE_API_KEY", raising=False)
        monkeypatch.setenv("METABASE_USER", standin.user)
        monkeypatch.setenv("METABASE_PASSWORD", standin.password)


def _guessed_type(column: str) -> str | None:
    """The name-based guess of a new field's semantic type (a few of the patterns of
    src/metabase/analyze/classifiers/name.clj)."""
    if column == "id":
        return "type/PK"
    if column in ("city", "country", "state"):
        return f"type/{column.title()}"
    if column.endswith("name"):
        return "type/Name"
    return None


def _read_schema(details: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """What a Metabase sync sees: tables, views and materialized views of included schemas,
    each with its kind (relkind), its comment and its columns' types and comments."""
    patterns = [p.strip() for p in details.get("schema-filters-patterns", "*").split(",")]
    with psycopg.connect(
        host=details["host"], port=details["port"], dbname=details["dbname"],
        user=details["user"], password=details.get("password"),
    ) as conn:  # fmt: skip
        rows = conn.execute(
            """
            select n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                   c.relkind::text, obj_description(c.oid, 'pg_class'),
                   col_description(c.oid, a.attnum)
            from pg_class c
            join pg_namespace n on n.oid = c.relnamespace
            join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
            where c.relkind in ('r', 'v', 'm', 'p', 'f') and has_table_privilege(c.oid, 'select')
            order by n.nspname, c.relname, a.attnum
            """
        ).fetchall()
    tables: dict[tuple[str, str], dict[str, Any]] = {}
    for schema, table, column, data_type, kind, comment, column_comment in rows:
        if any(fnmatch.fnmatch(schema, pattern) for pattern in patterns):
            relation = tables.setdefault(
                (schema, table), {"kind": kind, "comment": comment, "columns": []}
            )
            relation["columns"].append((column, data_type, column_comment))
    return tables


def _closed(body: dict[str, Any], keys: set[str]) -> None:
    unknown = sorted(set(body) - keys)
    if unknown:
        raise StandInError(400, {"errors": {key: "disallowed key" for key in unknown}})


def _require(body: dict[str, Any], *keys: str) -> None:
    missing = [key for key in keys if body.get(key) is None]
    if missing:
        raise StandInError(400, {"errors": {key: "value must be given" for key in missing}})


def _handler_for(standin: MetabaseStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
                result = standin.handle(
                    method, parts.path, parse_qs(parts.query), self.headers, body or {}
                )
                if result is None and method == "DELETE":
                    self._reply(204, None)
                else:
                    self._reply(200, result)
            except StandInError as error:
                self._reply(error.status, error.body)

        def _reply(self, status: int, payload: Any) -> None:
            if status == 204:
                self.send_response(204)
                self.end_headers()
                return
            text = payload if isinstance(payload, str) else json.dumps(payload)
            data = text.encode()
            self.send_response(status)
            content_type = "text/plain" if isinstance(payload, str) else "application/json"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler
