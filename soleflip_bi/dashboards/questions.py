"""The analysts' own Metabase questions and models as assets downstream of the views they
read, grouped by their Metabase collection, each with its name, link and the columns it
uses. Not materialized by Dagster: Metabase runs them; they are in the graph so that a
view's lineage shows who reads it (``views/readers.py`` stops a rebuild that breaks one).
Each is an external asset whose materializations ``metabase_questions_sensor`` reports, one
per version saved in Metabase, the way Dagster documents external assets' events.

The set is read from Metabase when the code location loads, with Dagster's loader for
definitions built from an external API, the one its BI integrations use (dagster-tableau's
``TableauWorkspaceDefsLoader``, dagster-sigma's): ``StateBackedDefinitionsLoader`` in
dagster/_core/definitions/definitions_load_context.py. Its state is fetched once per load
of the code server and carried to the run workers with the definitions, so a run never
asks Metabase again. A question made or deleted in Metabase appears or disappears at the
next load (a deploy, or Reload on the UI's Deployment page); ``metabase_questions_sensor``
looks every few minutes and says in its tick when the graph is behind Metabase, and which
questions differ. A Metabase that cannot be read gives no question assets and says why in
that sensor, never a code location that fails to load.

Decided: Dagster's ``StateBackedComponent`` with code-server snapshots would be the newer
form, but it fails when the definitions are imported outside a code server (its state is
kept on a load context that ``DefinitionsLoadContext.get()`` makes anew on every call
then), which `dg check defs` and the tests do.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from typing import Any

import dagster as dg
from dagster._core.definitions.definitions_load_context import StateBackedDefinitionsLoader

from soleflip_bi.metabase.client import MetabaseError
from soleflip_bi.metabase.config import MetabaseConfigError
from soleflip_bi.metabase.questions import Question, configured_questions
from soleflip_bi.metabase.versions import UnsupportedMetabase
from soleflip_bi.views.assets import view_asset_key

QUESTIONS_SENSOR = "metabase_questions_sensor"
SENSOR_INTERVAL_SECONDS = 300
GROUP_PREFIX = "metabase_"


def fetch_state() -> dict[str, Any]:
    """What the graph is built from: the questions, or why there are none. Never raises
    for Metabase: an outage must not stop the code location from loading."""
    try:
        found = configured_questions()
    except (MetabaseError, MetabaseConfigError, UnsupportedMetabase) as error:
        return {"questions": [], "note": f"Metabase could not be read: {error}"}
    if found is None:
        return {"questions": [], "note": "METABASE_URL is not set: no Metabase questions"}
    return {
        "questions": [_plain(q) for q in found.found],
        "note": "; ".join(found.skipped) or None,
    }


def _plain(question: Question) -> dict[str, Any]:
    plain = asdict(question)
    plain["reads"] = {view: sorted(columns) for view, columns in question.reads.items()}
    plain["based_on"] = sorted(question.based_on)
    return plain


def serialize_state(state: dict[str, Any]) -> str:
    return json.dumps(state, sort_keys=True)


def read_state(text: str) -> dict[str, Any]:
    return json.loads(text)


def group_name(collection: str) -> str:
    """Dagster group names are letters, digits and underscores."""
    return GROUP_PREFIX + (re.sub(r"[^a-z0-9]+", "_", collection.lower()).strip("_") or "root")


def question_key(question: dict[str, Any]) -> dg.AssetKey:
    name = re.sub(r"[^a-z0-9]+", "_", question["name"].lower()).strip("_")
    return dg.AssetKey(["metabase", question["kind"], f"{name}_{question['id']}"])


def question_specs(state: dict[str, Any]) -> list[dg.AssetSpec]:
    specs = []
    for question in state["questions"]:
        reads = question["reads"]
        used = "; ".join(
            f"{view} ({', '.join(columns) or 'its rows as they are'})"
            for view, columns in sorted(reads.items())
        )
        description = (
            f'Metabase {question["kind"]} "{question["name"]}" in the collection '
            f"{question['collection']}, made in Metabase: reads {used or 'no view it could name'}."
        )
        specs.append(
            dg.AssetSpec(
                key=question_key(question),
                description=description,
                deps=[view_asset_key(view) for view in sorted(reads)],
                group_name=group_name(question["collection"]),
                kinds={"metabase"},
                tags={"metabase/kind": question["kind"]},
                metadata=_metadata(question),
            )
        )
    return specs


def _metadata(question: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "metabase_url": dg.MetadataValue.url(question["url"]),
        "collection": question["collection"],
        "columns_used": dg.MetadataValue.json(question["reads"]),
    }
    if question["unreadable"]:
        metadata["not_read"] = question["unreadable"]
    return metadata


class QuestionsLoader(StateBackedDefinitionsLoader[str]):
    """The question assets and their sensor, from the state fetched at load (JSON text)."""

    @property
    def defs_key(self) -> str:
        return "soleflip_bi/metabase_questions"

    def fetch_state(self) -> str:
        return serialize_state(fetch_state())

    def defs_from_state(self, state: str) -> dg.Definitions:
        loaded = read_state(state)
        return dg.Definitions(assets=question_specs(loaded), sensors=[questions_sensor(loaded)])


def questions_sensor(loaded: dict[str, Any]) -> dg.SensorDefinition:
    """Every few minutes: records a materialization of each question in the graph that is
    new or changed since the last tick (Metabase saved it so: its collection, link and the
    columns it uses), and says whether Metabase's questions still match the graph (a
    reload of the code location brings the graph up to date)."""

    @dg.sensor(
        name=QUESTIONS_SENSOR,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Records each saved Metabase question that reads the views as it is "
        "saved, and says which differ from the graph (Reload the code location to show them).",
    )
    def metabase_questions_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        versions = {str(q["id"]): _version(q) for q in loaded["questions"]}
        events = [
            dg.AssetMaterialization(
                asset_key=question_key(q),
                description=f"as saved in Metabase: {q['url']}",
                metadata=_metadata(q),
            )
            for q in loaded["questions"]
            if seen.get(str(q["id"])) != versions[str(q["id"])]
        ]
        now = fetch_state()
        said = now["note"] if now["note"] and not now["questions"] else compare(loaded, now)
        return dg.SensorResult(
            skip_reason=None if events else said,
            asset_events=events,
            cursor=json.dumps(versions, sort_keys=True),
        )

    return metabase_questions_sensor


def _version(question: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(question, sort_keys=True).encode()).hexdigest()[:16]


def compare(loaded: dict[str, Any], now: dict[str, Any]) -> str:
    """One line: the graph matches Metabase, or what is new, gone or changed."""
    before = {q["id"]: q for q in loaded["questions"]}
    after = {q["id"]: q for q in now["questions"]}
    new = [after[i]["name"] for i in after if i not in before]
    gone = [before[i]["name"] for i in before if i not in after]
    changed = [after[i]["name"] for i in after if i in before and after[i] != before[i]]
    if not (new or gone or changed):
        return f"the graph shows the {len(after)} Metabase question(s) that read the views"
    parts = [
        f"{label}: {', '.join(names)}"
        for label, names in (("new", new), ("deleted", gone), ("changed", changed))
        if names
    ]
    return (
        "Metabase's questions differ from the graph ("
        + "; ".join(parts)
        + "): Reload the code location (Deployment) to show them"
    )
