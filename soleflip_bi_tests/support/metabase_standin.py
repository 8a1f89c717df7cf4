"""A stand-in for Metabase's REST API, for tests only: Metabase (a JVM server with its own
application database) cannot run here.

It keeps state across calls and implements the endpoints ``soleflip_bi.dashboards`` uses
the way Metabase 0.48+ answers them, strictly enough to catch a wrong client: the server
assigns ids, returns objects with keys of its own, redacts passwords, validates field ids
and dashcard references, and its schema sync reads the real PostgreSQL database that the
connection points at, in a background thread and after a delay (Metabase's sync is
asynchronous). Every request is logged, so a test can count the calls that change state.
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

REDACTED = "**MetabasePass**"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any


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
    api_key: str = "test-api-key"
    user: str = "admin@example.com"
    password: str = "metabase-admin-password"
    sync_delay: float = 0.2
    query_shape: str = "legacy"  # or "stages": return cards as MBQL 5 (Metabase 0.57+)
    calls: list[Call] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    databases: dict[int, dict[str, Any]] = field(default_factory=dict)
    tables: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    collections: dict[int, dict[str, Any]] = field(default_factory=dict)
    cards: dict[int, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._field_ids: dict[tuple[int, str, str, str], int] = {}
        self._sessions: set[str] = set()
        self._server: ThreadingHTTPServer | None = None

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

    def fail(self, method: str, path: str, status: int, message: str, after: int = 0) -> None:
        self.failures.append(Failure(method, path, status, message, after))

    # -- dispatch ------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers, body: Any):
        with self._lock:
            self.calls.append(Call(method, path, body))
            for failure in self.failures:
                if failure.method == method and failure.path == path:
                    if failure.after == 0:
                        self.failures.remove(failure)
                        raise StandInError(failure.status, {"message": failure.message})
                    failure.after -= 1
            if path != "/api/session":
                self._authenticate(headers)
            for route_method, pattern, action in self._routes():
                match = re.fullmatch(pattern, path)
                if match and route_method == method:
                    return action(*map(int, match.groups()), query=query, body=body)
            raise StandInError(404, "API endpoint does not exist.")

    def _routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        return [
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
            ("GET", r"/api/card/(\d+)", self._get_card),
            ("PUT", r"/api/card/(\d+)", self._update_card),
            ("POST", r"/api/dashboard", self._create_dashboard),
            ("GET", r"/api/dashboard/(\d+)", self._get_dashboard),
            ("PUT", r"/api/dashboard/(\d+)", self._update_dashboard),
        ]

    def _authenticate(self, headers) -> None:
        if headers.get("x-api-key") == self.api_key:
            return
        if headers.get("X-Metabase-Session") in self._sessions:
            return
        raise StandInError(401, "Unauthenticated")

    # -- sessions and databases ------------------------------------------------------

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
        _require(body, "name", "engine", "details")
        database = {"id": next(self._ids), "name": body["name"], "engine": body["engine"],
                    "details": dict(body["details"]), "is_full_sync": True}  # fmt: skip
        self.databases[database["id"]] = database
        self.tables[database["id"]] = []
        self._schedule_sync(database["id"])  # Metabase syncs a new connection by itself
        return self._public_database(database)

    def _get_database(self, database_id: int, *, query, body) -> dict[str, Any]:
        return self._public_database(self._find(self.databases, database_id))

    def _update_database(self, database_id: int, *, query, body) -> dict[str, Any]:
        database = self._find(self.databases, database_id)
        details = dict(body.get("details") or {})
        if details.get("password") in (None, REDACTED):
            details["password"] = database["details"].get("password")
        database.update({k: v for k, v in body.items() if k != "details"}, details=details)
        return self._public_database(database)

    def _sync_schema(self, database_id: int, *, query, body) -> dict[str, Any]:
        self._find(self.databases, database_id)
        self._schedule_sync(database_id)
        return {"status": "ok"}

    def _metadata(self, database_id: int, *, query, body) -> dict[str, Any]:
        database = self._public_database(self._find(self.databases, database_id))
        return {**database, "tables": copy.deepcopy(self.tables[database_id])}

    def _public_database(self, database: dict[str, Any]) -> dict[str, Any]:
        public = copy.deepcopy(database)
        if public["details"].get("password"):
            public["details"]["password"] = REDACTED
        return public

    def _schedule_sync(self, database_id: int) -> None:
        def sync() -> None:
            time.sleep(self.sync_delay)
            details = self.databases[database_id]["details"]
            tables = _read_schema(details)
            with self._lock:
                self.tables[database_id] = [
                    self._table(database_id, schema, name, columns)
                    for (schema, name), columns in sorted(tables.items())
                ]

        threading.Thread(target=sync, daemon=True).start()

    def _table(self, database_id: int, schema: str, name: str, columns: list[tuple[str, str]]):
        table_id = self._field_id(database_id, schema, name, "")
        fields = [
            {"id": self._field_id(database_id, schema, name, column), "name": column,
             "table_id": table_id, "database_type": data_type, "base_type": "type/*"}
            for column, data_type in columns
        ]  # fmt: skip
        return {"id": table_id, "db_id": database_id, "schema": schema, "name": name,
                "display_name": name.replace("_", " ").title(), "fields": fields}  # fmt: skip

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
        _require(body, "name")
        if "color" in body:
            raise StandInError(400, {"errors": {"color": "unknown key"}})
        collection = {"id": next(self._ids), "name": body["name"],
                      "description": body.get("description"), "location": "/",
                      "archived": False, "personal_owner_id": None}  # fmt: skip
        self.collections[collection["id"]] = collection
        return copy.deepcopy(collection)

    def _collection_items(self, collection_id: int, *, query, body) -> dict[str, Any]:
        self._find(self.collections, collection_id)
        models = query.get("models") or ["card", "dashboard"]
        items = [
            {"id": obj["id"], "name": obj["name"], "description": obj.get("description"),
             "model": model}
            for model, store in (("card", self.cards), ("dashboard", self.dashboards))
            if model in models
            for obj in store.values()
            if obj.get("collection_id") == collection_id and not obj.get("archived")
        ]  # fmt: skip
        return {"total": len(items), "data": items, "models": models}

    def _create_card(self, *, query, body) -> dict[str, Any]:
        _require(body, "name", "display", "visualization_settings", "dataset_query")
        self._validate_query(body["dataset_query"])
        self._check_collection(body.get("collection_id"))
        now = _now()
        card = {**copy.deepcopy(body), "id": next(self._ids), "archived": False,
                "type": "question", "creator_id": 1, "created_at": now, "updated_at": now,
                "parameters": []}  # fmt: skip
        self.cards[card["id"]] = card
        return self._public_card(card)

    def _get_card(self, card_id: int, *, query, body) -> dict[str, Any]:
        return self._public_card(self._find(self.cards, card_id))

    def _update_card(self, card_id: int, *, query, body) -> dict[str, Any]:
        card = self._find(self.cards, card_id)
        if "dataset_query" in body:
            self._validate_query(body["dataset_query"])
        card.update(copy.deepcopy(body), updated_at=_now())
        return self._public_card(card)

    def _public_card(self, card: dict[str, Any]) -> dict[str, Any]:
        public = copy.deepcopy(card)
        query = public["dataset_query"]
        if self.query_shape == "stages":
            public["dataset_query"] = {
                "lib/type": "mbql/query",
                "database": query["database"],
                "stages": [{"lib/type": "mbql.stage/native", "native": query["native"]["query"],
                            "template-tags": query["native"]["template-tags"]}],
            }  # fmt: skip
        return public

    def _create_dashboard(self, *, query, body) -> dict[str, Any]:
        _require(body, "name")
        if "dashcards" in body:
            raise StandInError(400, {"errors": {"dashcards": "not accepted on creation"}})
        self._check_collection(body.get("collection_id"))
        dashboard = {"id": next(self._ids), "name": body["name"],
                     "description": body.get("description"),
                     "collection_id": body.get("collection_id"),
                     "parameters": copy.deepcopy(body.get("parameters") or []),
                     "archived": False, "dashcards": [], "tabs": []}  # fmt: skip
        self.dashboards[dashboard["id"]] = dashboard
        return self._public_dashboard(dashboard, with_dashcards=False)

    def _get_dashboard(self, dashboard_id: int, *, query, body) -> dict[str, Any]:
        return self._public_dashboard(self._find(self.dashboards, dashboard_id))

    def _update_dashboard(self, dashboard_id: int, *, query, body) -> dict[str, Any]:
        dashboard = self._find(self.dashboards, dashboard_id)
        changes = {k: copy.deepcopy(v) for k, v in body.items() if k != "dashcards"}
        parameter_ids = {p["id"] for p in changes.get("parameters", dashboard["parameters"])}
        if "dashcards" in body:
            dashboard_cards = self._replace_dashcards(dashboard, body["dashcards"], parameter_ids)
            dashboard["dashcards"] = dashboard_cards
        dashboard.update(changes)
        return self._public_dashboard(dashboard)

    def _replace_dashcards(self, dashboard, dashcards: list[dict[str, Any]], parameter_ids):
        ids = [dc["id"] for dc in dashcards]
        if len(ids) != len(set(ids)):
            raise StandInError(400, {"errors": {"dashcards": "ids must be unique"}})
        existing = {dc["id"] for dc in dashboard["dashcards"]}
        replaced = []
        for dashcard in dashcards:
            _require(dashcard, "id", "card_id", "row", "col", "size_x", "size_y")
            self._find(self.cards, dashcard["card_id"])
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
            dashcard["card"] = self._public_card(self.cards[dashcard["card_id"]])
            if self.query_shape == "stages":
                for mapping in dashcard.get("parameter_mappings") or []:
                    mapping["target"] = [*mapping["target"][:2], {"stage-number": 0}]
        return public

    # -- validation ------------------------------------------------------------------

    def _validate_query(self, dataset_query: dict[str, Any]) -> None:
        if dataset_query.get("type") != "native":
            raise StandInError(400, {"errors": {"dataset_query": "only native queries here"}})
        database_id = dataset_query.get("database")
        self._find(self.databases, database_id)
        known = {f["id"] for t in self.tables[database_id] for f in t["fields"]}
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


def _read_schema(details: dict[str, Any]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """What a Metabase sync sees: tables, views and materialized views of included schemas."""
    patterns = [p.strip() for p in details.get("schema-filters-patterns", "*").split(",")]
    with psycopg.connect(
        host=details["host"], port=details["port"], dbname=details["dbname"],
        user=details["user"], password=details.get("password"),
    ) as conn:  # fmt: skip
        rows = conn.execute(
            """
            select n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
            from pg_class c
            join pg_namespace n on n.oid = c.relnamespace
            join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
            where c.relkind in ('r', 'v', 'm', 'p', 'f') and has_table_privilege(c.oid, 'select')
            order by n.nspname, c.relname, a.attnum
            """
        ).fetchall()
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in rows:
        if any(fnmatch.fnmatch(schema, pattern) for pattern in patterns):
            tables.setdefault((schema, table), []).append((column, data_type))
    return tables


def _require(body: dict[str, Any], *keys: str) -> None:
    missing = [key for key in keys if body.get(key) is None]
    if missing:
        raise StandInError(400, {"errors": {key: "value must be given" for key in missing}})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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
                self._reply(200, result)
            except StandInError as error:
                self._reply(error.status, error.body)

        def _reply(self, status: int, payload: Any) -> None:
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

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler
