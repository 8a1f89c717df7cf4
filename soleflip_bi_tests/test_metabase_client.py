"""Provisioning Metabase: idempotent pushes, clear errors, the asset in "pushed" mode.

Metabase itself (a JVM server with its own application database) cannot run here, so these
tests talk to a stand-in (``support/metabase_standin.py``): a local HTTP server that keeps
state and answers the endpoints the client uses the way Metabase 0.48+ does. Its schema sync
reads the real embedded PostgreSQL database with the views built from the demo data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import dagster as dg
import pytest

from soleflip_bi.cli.main import main
from soleflip_bi.dashboards.assets import metabase_dashboards
from soleflip_bi.dashboards.config import COLLECTION_NAME, MetabaseConfig
from soleflip_bi.dashboards.progress import PushFailed
from soleflip_bi.dashboards.provision import push_dashboards
from soleflip_bi.dashboards.templates import DASHBOARDS
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi_tests.support.metabase_standin import MetabaseStandIn
from soleflip_bi_tests.support.shop import new_shop

CARDS_PER_DASHBOARD = {d.title: len(d.cards) for d in DASHBOARDS}


@pytest.fixture(scope="module")
def analytics_url() -> Iterator[str]:
    """The demo shop with every view built, in a database of this module's own."""
    with new_shop() as url:
        yield url


@pytest.fixture
def metabase(monkeypatch: pytest.MonkeyPatch) -> Iterator[MetabaseStandIn]:
    standin = MetabaseStandIn()
    with standin.running():
        for name in ("METABASE_USER", "METABASE_PASSWORD", "METABASE_DB_USER", "METABASE_DB_HOST"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("METABASE_URL", standin.url)
        monkeypatch.setenv("METABASE_API_KEY", standin.api_key)
        yield standin


def mutation_counts(metabase: MetabaseStandIn) -> Counter[tuple[str, str]]:
    """Changing calls by method and endpoint, ids folded (``PUT /api/card/:id``)."""
    return Counter(
        (call.method, "/".join(":id" if p.isdigit() else p for p in call.path.split("/")))
        for call in metabase.mutations()
    )


@pytest.mark.parametrize("query_shape", ["legacy", "stages"])
def test_second_push_creates_and_changes_nothing(
    analytics_url: str, metabase: MetabaseStandIn, query_shape: str
) -> None:
    metabase.query_shape = query_shape  # "stages": how Metabase 0.57+ returns native queries
    first = push_dashboards(MetabaseConfig.from_env(), analytics_url)

    assert mutation_counts(metabase) == {
        ("POST", "/api/database"): 1,
        ("POST", "/api/collection"): 1,
        ("POST", "/api/card"): 31,
        ("POST", "/api/dashboard"): 4,
        ("PUT", "/api/dashboard/:id"): 4,  # the dashcards
    }
    [collection] = metabase.collections.values()
    assert collection["name"] == COLLECTION_NAME
    assert {d["name"]: len(d["dashcards"]) for d in metabase.dashboards.values()} == (
        CARDS_PER_DASHBOARD
    )
    assert all(card["collection_id"] == collection["id"] for card in metabase.cards.values())

    metabase.calls.clear()
    second = push_dashboards(MetabaseConfig.from_env(), analytics_url)

    assert metabase.mutations() == []
    assert second.progress.changes() == []
    assert second.dashboard_ids == first.dashboard_ids
    assert len(metabase.cards) == 31 and len(metabase.dashboards) == 4


def test_field_filters_point_at_the_synced_view_columns(
    analytics_url: str, metabase: MetabaseStandIn
) -> None:
    push_dashboards(MetabaseConfig.from_env(), analytics_url)
    [database_id] = metabase.databases
    fields = {
        field["id"]: (table["schema"], table["name"], field["name"])
        for table in metabase.tables[database_id]
        for field in table["fields"]
    }
    by_key = {d.card_key(c): (d, c) for d in DASHBOARDS for c in d.cards}
    checked = 0
    for stored in metabase.cards.values():
        _dashboard, card = by_key[stored["description"].split("`")[1]]
        for slug, tag in stored["dataset_query"]["native"]["template-tags"].items():
            if tag["type"] == "dimension":
                assert fields[tag["dimension"][1]] == (
                    "analytics",
                    card.view,
                    card.field_filters[slug],
                )
                checked += 1
    assert checked == sum(len(c.field_filters) for _d, c in by_key.values())
    details = metabase.databases[database_id]["details"]
    assert details["schema-filters-type"] == "inclusion"
    assert details["schema-filters-patterns"] == "analytics"


def test_a_change_made_in_metabase_is_put_back_and_nothing_else_is_touched(
    analytics_url: str, metabase: MetabaseStandIn
) -> None:
    push_dashboards(MetabaseConfig.from_env(), analytics_url)
    card = next(c for c in metabase.cards.values() if c["name"] == "Dead Stock Count")
    card["name"] = "Renamed by someone"
    dashboard = next(d for d in metabase.dashboards.values() if d["name"] == "Executive Dashboard")
    dashboard["dashcards"][0]["size_x"] = 12
    metabase.calls.clear()

    report = push_dashboards(MetabaseConfig.from_env(), analytics_url)

    assert sorted((c.method, c.path) for c in metabase.mutations()) == [
        ("PUT", f"/api/card/{card['id']}"),
        ("PUT", f"/api/dashboard/{dashboard['id']}"),
    ]
    assert card["name"] == "Dead Stock Count"
    assert dashboard["dashcards"][0]["size_x"] == 6
    assert len(report.progress.changes()) == 2


def test_session_login_with_user_and_password(
    analytics_url: str, metabase: MetabaseStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("METABASE_API_KEY")
    monkeypatch.setenv("METABASE_USER", metabase.user)
    monkeypatch.setenv("METABASE_PASSWORD", metabase.password)
    report = push_dashboards(MetabaseConfig.from_env(), analytics_url)
    assert metabase.calls[0].path == "/api/session"
    assert set(report.dashboard_ids) == {d.name for d in DASHBOARDS}


def test_a_metabase_error_says_where_and_what_was_done(
    analytics_url: str, metabase: MetabaseStandIn, use_database, capsys
) -> None:
    use_database(analytics_url)
    metabase.fail("POST", "/api/card", 500, "Unable to save the card", after=2)

    assert main(["dashboards", "push"]) == 2

    error = capsys.readouterr().err
    assert "POST /api/card failed (HTTP 500): Unable to save the card" in error
    assert f"created collection {COLLECTION_NAME!r}" in error
    assert "created card executive/total_revenue" in error
    assert "created card executive/total_profit" in error
    assert len(metabase.cards) == 2

    # Running it again finishes the job without duplicating what was already there.
    assert main(["dashboards", "push"]) == 0
    assert len(metabase.cards) == 31 and len(metabase.collections) == 1
    output = capsys.readouterr().out
    assert output.count("created card") == 29 and output.count("unchanged card") == 2
    assert "found collection" in output and "created collection" not in output


def test_wrong_credentials_are_reported_as_such(
    analytics_url: str, metabase: MetabaseStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METABASE_API_KEY", "not-the-key")
    with pytest.raises(PushFailed, match=r"GET /api/database failed \(HTTP 401\): Unauthenticated"):
        push_dashboards(MetabaseConfig.from_env(), analytics_url)


def test_views_missing_from_metabase_time_out_with_a_reason(
    scratch_database_url: str, metabase: MetabaseStandIn
) -> None:
    with pytest.raises(PushFailed) as failure:
        push_dashboards(MetabaseConfig.from_env(), scratch_database_url, sync_timeout=1)
    message = str(failure.value)
    assert "Metabase has not synced analytics.metabase_" in message
    assert "created database connection" in message
    assert metabase.cards == {}


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({}, "METABASE_URL is not set"),
        ({"METABASE_URL": "http://metabase.invalid"}, "no credentials are"),
        ({"METABASE_URL": "http://x", "METABASE_USER": "me"}, "METABASE_PASSWORD"),
    ],
)
def test_missing_configuration_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys, environment: dict[str, str], message: str
) -> None:
    for name in ("METABASE_URL", "METABASE_API_KEY", "METABASE_USER", "METABASE_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert main(["dashboards", "push"]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1


def test_asset_pushes_when_metabase_is_configured(
    analytics_url: str, metabase: MetabaseStandIn, use_database
) -> None:
    use_database(analytics_url)
    result = dg.materialize([metabase_dashboards], resources={"postgres": PostgresResource()})
    [event] = result.asset_materializations_for_node(metabase_dashboards.op.name)
    metadata = {key: value.value for key, value in event.metadata.items()}
    assert metadata["mode"] == "pushed"
    assert metadata["created"] == 1 + 1 + 31 + 4  # connection, collection, cards, dashboards
    assert metadata["cards"] == 31
    assert set(metadata["dashboard_urls"]) == {d.name for d in DASHBOARDS}


def test_a_card_dropped_from_the_templates_is_archived_and_connection_drift_corrected(
    analytics_url: str, metabase: MetabaseStandIn
) -> None:
    push_dashboards(MetabaseConfig.from_env(), analytics_url)
    [collection_id] = metabase.collections
    [database] = metabase.databases.values()
    template = next(iter(metabase.cards.values()))
    retired = {**template, "id": 9999, "description": "Managed by soleflip-bi (`executive/old`)"}
    metabase.cards[9999] = retired
    unmanaged = {**template, "id": 9998, "description": "someone's own question"}
    metabase.cards[9998] = unmanaged
    database["details"]["host"] = "old-host.example"
    metabase.calls.clear()

    push_dashboards(MetabaseConfig.from_env(), analytics_url)

    assert sorted((c.method, c.path, str(c.body)[:20]) for c in metabase.mutations()) == [
        ("PUT", "/api/card/9999", "{'archived': True}"),
        ("PUT", f"/api/database/{database['id']}", "{'name': 'SoleFlip A"),
    ]
    assert retired["archived"] and not unmanaged["archived"]
    assert unmanaged["collection_id"] == collection_id
    assert database["details"]["host"] == "127.0.0.1"
