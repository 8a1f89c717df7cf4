"""The saved questions and models in Metabase that read the views, and which columns each
one uses: what a rebuild of a view must not break without saying so.

Read from Metabase's own API, as each release serves it (the source files named are in
metabase/metabase):

* ``GET /api/card`` lists every card that is not archived, with its ``dataset_query`` and
  its collection hydrated (``null`` for the root collection, "Our analytics")
  (src/metabase/queries_rest/api/card.clj, src/metabase/api/card.clj before 0.54).
* A card is a question, a model or a metric by ``type`` from 0.49; 0.48 marks a model with
  ``dataset: true`` (docs/developers-guide/api-changelog.md, 0.49).
* Its query is legacy MBQL (``{"type": "query", "query": {"source-table": 12, ...}}`` or
  ``{"type": "native", "native": {"query": ..., "template-tags": ...}}``) up to 0.56, and
  MBQL 5 (``{"stages": [...]}``) from 0.57 (api-changelog, 0.57; PR #63913). Field refs
  are ``["field", 12, {...}]`` in one and ``["field", {...}, 12]`` in the other; a question
  on another card reads ``"card__12"`` / ``"source-card": 12``
  (src/metabase/legacy_mbql/schema.cljc, src/metabase/lib/convert.cljc).

A query-builder question uses the fields it names anywhere (fields, filters, breakouts,
aggregations, order, joins, expressions); one that shows a table's rows as they are names
none, and only the view's removal breaks it. A native question uses the columns its SQL
reads (``native_sql.py``) and the field of each field filter. A question on a model or on
another question also uses what that card uses. The project's own dashboard cards (their
description carries the managed marker) are the dashboards asset's, and left out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from soleflip_bi.metabase.client import MetabaseClient
from soleflip_bi.metabase.config import MetabaseConfig, metabase_configured
from soleflip_bi.metabase.managed import managed_key
from soleflip_bi.metabase.native_sql import UnreadableSql, columns_read
from soleflip_bi.metabase.session import analytics_tables, connect, find_database

ROOT_COLLECTION = "Our analytics"
KINDS = ("question", "model", "metric")


@dataclass(frozen=True)
class Question:
    id: int
    name: str
    kind: str  # question, model or metric
    collection: str
    collection_id: int | None
    url: str
    reads: Mapping[str, frozenset[str]]  # view -> the columns it uses (may be empty)
    based_on: frozenset[int] = frozenset()  # the cards it reads
    unreadable: str | None = None  # why its SQL could not be read

    @property
    def label(self) -> str:
        return f'{self.kind} "{self.name}" ({self.url})'


@dataclass(frozen=True)
class Catalog:
    """The analytics views as Metabase has synced them: ids to names."""

    tables: Mapping[int, str]  # table id -> view
    fields: Mapping[int, tuple[str, str]]  # field id -> (view, column)
    columns: Mapping[str, Mapping[str, str]]  # view -> column -> database type

    @classmethod
    def from_tables(cls, analytics: Mapping[str, Mapping[str, Any]]) -> Catalog:
        tables: dict[int, str] = {}
        fields: dict[int, tuple[str, str]] = {}
        columns: dict[str, dict[str, str]] = {}
        for table in analytics.values():
            tables[int(table["id"])] = table["name"]
            view = columns.setdefault(table["name"], {})
            for f in table.get("fields") or []:
                fields[int(f["id"])] = (table["name"], f["name"])
                view[f["name"]] = f.get("database_type") or "text"
        return cls(tables, fields, columns)


@dataclass(frozen=True)
class Questions:
    found: tuple[Question, ...]  # every question that reads a view, unreadable ones too
    skipped: tuple[str, ...] = field(default=())  # what was not read, and why

    @property
    def unreadable(self) -> tuple[Question, ...]:
        return tuple(q for q in self.found if q.unreadable)

    def reading(self, view: str) -> list[Question]:
        return [q for q in self.found if view in q.reads]


def read_questions(client: MetabaseClient, database_id: int, base_url: str) -> Questions:
    """Every saved question, model and metric of the shop database's connection that reads
    an analytics view, with the columns it uses."""
    views = Catalog.from_tables(analytics_tables(client, database_id))
    cards = [
        card
        for card in client.get("/api/card") or []
        if not card.get("archived")
        and _database(card) == database_id
        and managed_key(card.get("description")) is None
    ]
    questions = {int(c["id"]): _question(c, views, base_url) for c in cards}
    found = sorted(_resolved(questions), key=lambda q: (q.collection, q.name, q.id))
    return Questions(tuple(found))


def _database(card: Mapping[str, Any]) -> int | None:
    query = card.get("dataset_query") or {}
    database = query.get("database", card.get("database_id"))
    return int(database) if isinstance(database, int) else None


def _kind(card: Mapping[str, Any]) -> str:
    kind = card.get("type")
    if kind in KINDS:
        return str(kind)
    return "model" if card.get("dataset") else "question"


def slug(name: str) -> str:
    """The slug Metabase's frontend appends to a card's URL (``slugg``: lower case, runs
    of anything but letters and digits as one hyphen)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")


def _question(card: Mapping[str, Any], views: Catalog, base_url: str) -> Question:
    kind = _kind(card)
    collection = card.get("collection") or {}
    collection_id = card.get("collection_id")
    name = str(card.get("name") or f"card {card['id']}")
    url = f"{base_url}/{kind}/{card['id']}-{slug(name)}"
    query = card.get("dataset_query") or {}
    reads: dict[str, set[str]] = {}
    based_on: set[int] = set()
    for node in _nodes(query):
        if isinstance(node, dict):
            table = node.get("source-table")
            if isinstance(table, int) and table in views.tables:
                reads.setdefault(views.tables[table], set())
            elif isinstance(table, str) and table.startswith("card__"):
                based_on.add(int(table.removeprefix("card__")))
            if isinstance(node.get("source-card"), int):
                based_on.add(int(node["source-card"]))
        elif isinstance(node, list) and field_id(node) in views.fields:
            view, column = views.fields[field_id(node)]
            reads.setdefault(view, set()).add(column)
    unreadable = None
    native = _native(query)
    if native is not None:
        text, tags = native
        field_tags = {
            name
            for name, tag in tags.items()
            if isinstance(tag, dict) and tag.get("type") == "dimension"
        }
        try:
            found = columns_read(text, field_tags, views.columns)
            for view, columns in found.columns.items():
                reads.setdefault(view, set()).update(columns)
            based_on |= found.cards
        except UnreadableSql as error:
            unreadable = str(error)
    return Question(
        id=int(card["id"]),
        name=name,
        kind=kind,
        collection=str(collection.get("name") or ROOT_COLLECTION),
        collection_id=collection_id if isinstance(collection_id, int) else None,
        url=url,
        reads={view: frozenset(columns) for view, columns in reads.items()},
        based_on=frozenset(based_on),
        unreadable=unreadable,
    )


def field_id(ref: list[Any]) -> int | None:
    """The field id of a field ref in either form: legacy ``["field", 12, opts]``, MBQL 5
    ``["field", {opts}, 12]``; ``None`` for anything else (a ref by name, another clause)."""
    if len(ref) >= 2 and ref[0] == "field":
        for part in ref[1:3]:
            if isinstance(part, int) and not isinstance(part, bool):
                return part
    return None


def _nodes(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _nodes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _nodes(item)


def _native(query: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The SQL and template tags of a native query, legacy or MBQL 5; None otherwise."""
    if query.get("type") == "native":
        native = query.get("native") or {}
        return str(native.get("query") or ""), native.get("template-tags") or {}
    for stage in query.get("stages") or []:
        if isinstance(stage, dict) and stage.get("lib/type") == "mbql.stage/native":
            return str(stage.get("native") or ""), stage.get("template-tags") or {}
    return None


def _resolved(questions: Mapping[int, Question]) -> Iterator[Question]:
    """Each question that reads a view, itself or through the cards it is based on; a
    card it is based on lends it what that card uses."""
    for question in questions.values():
        reads: dict[str, set[str]] = {v: set(c) for v, c in question.reads.items()}
        seen, todo = {question.id}, list(question.based_on)
        while todo:
            card = questions.get(todo.pop())
            if card is None or card.id in seen:
                continue
            seen.add(card.id)
            for view, columns in card.reads.items():
                reads.setdefault(view, set()).update(columns)
            todo.extend(card.based_on)
        if reads or question.unreadable:
            yield replace(question, reads={v: frozenset(c) for v, c in reads.items()})


def configured_questions() -> Questions | None:
    """The questions of the Metabase METABASE_URL names; None when it is not set. Raises
    ``MetabaseError``, ``MetabaseConfigError`` or ``UnsupportedMetabase`` (one sentence
    each) when Metabase cannot be asked."""
    if not metabase_configured():
        return None
    config = MetabaseConfig.from_env()
    client, _version = connect(config)
    found = find_database(client)
    if found is None:
        return Questions((), ("the shop database has no connection in Metabase yet",))
    return read_questions(client, found[0], config.url)
