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
from soleflip_bi.dashboards.cache import cards_reading
from soleflip_bi.dashboards.cache_sensor import metabase_cache_sensor
from soleflip_bi.dashboards.plan import EditedInMetabase
from soleflip_bi.dashboards.progress import PushFailed
from soleflip_bi.dashboards.provision import push_dashboards
from soleflip_bi.dashboards.templates import DASHBOARDS
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.metabase.config import COLLECTION_NAME, MetabaseConfig, connection_details
from soleflip_bi.views.assets import view_asset_key
from soleflip_bi_tests.support.metabase_standin import MetabaseStandIn, configure
from soleflip_bi_tests.support.shop import new_shop

CARDS_PER_DASHBOARD = {d.title: len(d.cards) for d in DASHBOARDS}


@pytest.fixture(scope="module")
def analytics_url() -> Iterator[str]:
    """The demo shop with every view built, in a database of this module's own."""
    with new_shop() as url:
        yield url


RELEASES = [48, 50, 53, 57]  # the version profiles of the stand-in (Metabase 0.48 ... 0.57+)
FIRST_PUSH = {
    ("POST", "/api/database"): 1,
    ("POST", "/api/collection"): 1,
    ("POST", "/api/card"): 31,
    ("POST", "/api/dashboard"): 4,
    ("PUT", "/api/dashboard/:id"): 4,  # the dashcards
}


@pytest.fixture
def metabase(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """The stand-in of Metabase 0.50, or of the release a test is parametrized with; an API
    key where the release has them, a login before."""
    standin = MetabaseStandIn(release=getattr(request, "param", 50))
    with standin.running():
        configure(standin, monkeypatch)
        yield standin


def mutation_counts(metabase: MetabaseStandIn) -> Counter[tuple[str, str]]:
    """Changing calls by method and endpoint, ids folded (``PUT /api/card/:id``)."""
    return Counter(
        (call.method, "/".join(":id" if p.isdigit() else p for p in call.path.split("/")))
        for call in metabase.mutations()
    )


def managed_collections(metabase: MetabaseStandIn) -> dict[int, dict]:
    return {i: c for i, c in metabase.collections.items() if c["name"] == COLLECTION_NAME}


@pytest.mark.parametrize("metabase", RELEASES, indirect=True, ids=lambda r: f"0.{r}")
def test_second_push_creates_and_changes_nothing(
    analytics_url: str, metabase: MetabaseStandIn
) -> None:
    first = push_dashboards(MetabaseConfig.from_env(), analytics_url)

    assert mutation_counts(metabase) == FIRST_PUSH
    [collection] = managed_collections(metabase).values()
    assert collection["name"] == COLLECTION_NAME and collection["location"] == "/"
    assert {d["name"]: len(d["dashcards"]) for d in metabase.dashboards.values()} == (
        CARDS_PER_DASHBOARD
    )
    assert all(card["collection_id"] == collection["id"] for card in metabase.cards.values())
    assert first.version == f"v0.{metabase.release}.2"

    metabase.calls.clear()
    second = push_dashboards(MetabaseConfig.from_env(), analytics_url)

    assert metabase.mutations() == []
    assert second.progress.changes() == []
    assert second.dashboard_ids == first.dashboard_ids
    assert len(metabase.cards) == 31 and len(metabase.dashboards) == 4


@pytest.mark.parametrize("metabase", RELEASES, indirect=True, ids=lambda r: f"0.{r}")
def test_ssl_that_metabase_chose_is_never_turned_off(
    analytics_url: str, metabase: MetabaseStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Metabase tries SSL first and keeps it when the server accepts it; a later push,
    even one that corrects another detail, leaves it on."""
    push_dashboards(MetabaseConfig.from_env(), analytics_url)
    [database] = metabase.databases.values()
    assert "ssl" not in metabase.calls_to("POST", "/api/database")[0].body["details"]
    assert database["details"]["ssl"] is True

    push_dashboards(MetabaseConfig.from_env(), analytics_url)
    database["details"]["host"] = "old-host.example"
    push_dashboards(MetabaseConfig.from_env(), analytics_url)

    [put] = metabase.calls_to("PUT", f"/api/database/{database['id']}")
    assert put.body["details"]["ssl"] is True
    assert database["details"]["ssl"] is True and database["details"]["host"] == "127.0.0.1"


def test_ssl_disabled_in_the_url_is_kept_from_the_first_push(
    analytics_url: str, metabase: MetabaseStandIn
) -> None:
    """Metabase turns SSL on when creating a connection even when told not to; a mode the
    URL asks for is put back at once, and the next push has nothing to change."""
    push_dashboards(MetabaseConfig.from_env(), f"{analytics_url}?sslmode=disable")
    [database] = metabase.databases.values()
    assert database["details"]["ssl"] is False
    assert mutation_counts(metabase)[("PUT", "/api/database/:id")] == 1
    metabase.calls.clear()
    push_dashboards(MetabaseConfig.from_env(), f"{analytics_url}?sslmode=disable")
    assert metabase.mutations() == []


@pytest.mark.parametrize(
    ("sslmode", "ssl"),
    [("require", True), ("verify-ca", True), ("verify-full", True), ("disable", False),
     ("prefer", None), ("allow", None), (None, None)],
)  # fmt: skip
def test_ssl_is_sent_only_when_the_url_asks_for_a_mode(sslmode: str | None, ssl) -> None:
    url = "postgresql://shop@db.example/shop" + (f"?sslmode={sslmode}" if sslmode else "")
    assert connection_details(url).get("ssl") is ssl


@pytest.mark.parametrize("metabase", [53, 57], indirect=True, ids=lambda r: f"0.{r}")
def test_cards_moved_into_their_dashboards_are_still_found(
    analytics_url: str, metabase: MetabaseStandIn
) -> None:
    push_dashboards(MetabaseConfig.from_env(), analytics_url)
    assert metabase.move_cards_into_dashboards() == 31
    metabase.calls.clear()

    report = push_dashboards(MetabaseConfig.from_env(), analytics_url)

    assert metabase.mutations() == []
    assert len(metabase.cards) == 31
    assert report.progress.counts()["unchanged"] == 31 + 4
    items = [c for c in metabase.calls if c.path.endswith("/items")]
    assert items and all(c.query["show_dashboard_questions"] == ["true"] for c in items)


@pytest.mark.parametrize("metabase", [53, 57], indirect=True, ids=lambda r: f"0.{r}")
def test_a_retired_card_inside_someone_elses_dashboard_is_found_and_archived(
    analytics_url: str, metabase: MetabaseStandIn
) -> None:
    """Found only through the collection's items with show_dashboard_questions=true: it is
    on no managed dashboard."""
    report = push_dashboards(MetabaseConfig.from_env(), analytics_url)
    theirs = {"id": 9000, "name": "Theirs", "description": "someone's own dashboard",
              "collection_id": report.collection_id, "parameters": [], "archived": False,
              "dashcards": [], "tabs": []}  # fmt: skip
    metabase.dashboards[9000] = theirs
    template = next(iter(metabase.cards.values()))
    retired = {**template, "id": 9999, "dashboard_id": 9000,
               "description": "Managed by soleflip-bi (`executive/old`)"}  # fmt: skip
    metabase.cards[9999] = retired
    theirs["dashcards"] = [{"id": 9001, "card_id": 9999, "row": 0, "col": 0, "size_x": 4,
                            "size_y": 4, "parameter_mappings": []}]  # fmt: skip
    metabase.calls.clear()

    push_dashboards(MetabaseConfig.from_env(), analytics_url)

    assert [(c.method, c.path) for c in metabase.mutations()] == [("PUT", "/api/card/9999")]
    assert retired["archived"] and not theirs["archived"]


def test_a_card_retitled_after_moving_into_its_dashboard_is_put_back_in_place(
    analytics_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MetabaseStandIn(release=53).running() as metabase:
        monkeypatch.setenv("METABASE_URL", metabase.url)
        monkeypatch.setenv("METABASE_API_KEY", metabase.api_key)
        push_dashboards(MetabaseConfig.from_env(), analytics_url)
        metabase.move_cards_into_dashboards()  # saved by a person: a revision of each card
        push_dashboards(MetabaseConfig.from_env(), analytics_url)
        card = next(c for c in metabase.cards.values() if c["name"] == "Dead Stock Count")
        card["name"] = "Renamed during an upgrade"  # no revision: not an edit by a person
        metabase.calls.clear()

        push_dashboards(MetabaseConfig.from_env(), analytics_url)

        assert [(c.method, c.path) for c in metabase.mutations()] == [
            ("PUT", f"/api/card/{card['id']}")
        ]
        assert card["name"] == "Dead Stock Count"
        assert card["dashboard_id"] in metabase.dashboards  # still inside its dashboard


@pytest.mark.parametrize(
    ("release", "credentials", "message"),
    [
        (47, "key", "Metabase v0.47.2 at {url} is older than 0.48, the oldest version"),
        (47, "login", "Metabase v0.47.2 at {url} is older than 0.48, the oldest version"),
        (48, "key", "Metabase v0.48.2 at {url} has no API keys (they arrived in 0.49)"),
    ],
)
def test_unsupported_versions_are_refused_before_any_change(
    analytics_url: str,
    use_database,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
    release: int,
    credentials: str,
    message: str,
) -> None:
    use_database(analytics_url)
    with MetabaseStandIn(release=release).running() as metabase:
        monkeypatch.setenv("METABASE_URL", metabase.url)
        if credentials == "key":
            monkeypatch.setenv("METABASE_API_KEY", metabase.api_key)
        else:
            monkeypatch.delenv("METABASE_API_KEY", raising=False)
            monkeypatch.setenv("METABASE_USER", metabase.user)
            monkeypatch.setenv("METABASE_PASSWORD", metabase.password)

        assert main(["dashboards", "push"]) == 2

        [error] = capsys.readouterr().err.splitlines()
        assert error.startswith("soleflip-bi: error: " + message.format(url=metabase.url))
        assert [c.path for c in metabase.calls] == ["/api/session/properties"]


def test_api_key_of_a_user_who_is_no_administrator_names_the_permission(
    analytics_url: str, metabase: MetabaseStandIn, use_database, capsys
) -> None:
    use_database(analytics_url)
    metabase.admin = False
    assert main(["dashboards", "push"]) == 2
    error = capsys.readouterr().err
    assert "POST /api/database failed (HTTP 403): You don't have permissions to do that. " in error
    assert "This needs Metabase administrator rights" in error
    assert "Traceback" not in error
    assert metabase.mutations() == [metabase.calls_to("POST", "/api/database")[0]]


def test_a_user_who_is_no_administrator_can_push_once_the_connection_exists(
    analytics_url: str, metabase: MetabaseStandIn, use_database, capsys
) -> None:
    use_database(analytics_url)
    assert main(["dashboards", "push"]) == 0
    metabase.admin = False  # Metabase shows such a user no connection details
    metabase.calls.clear()
    capsys.readouterr()

    assert main(["dashboards", "plan"]) == 0
    assert main(["dashboards", "push"]) == 0

    assert metabase.mutations() == []
    assert "details are shown to administrators only, so they are not compared" in (
        capsys.readouterr().out
    )


def test_a_push_that_stopped_after_updates_does_not_take_them_for_edits(
    analytics_url: str, metabase: MetabaseStandIn
) -> None:
    push_dashboards(MetabaseConfig.from_env(), analytics_url)
    drifted = [c for c in metabase.cards.values() if c["display"] == "scalar"][:2]
    for card in drifted:
        card["display"] = "table"  # no revision: changed outside the editor
    metabase.fail("PUT", f"/api/card/{drifted[1]['id']}", 500, "Unable to save the card")
    with pytest.raises(PushFailed, match="Unable to save the card"):
        push_dashboards(MetabaseConfig.from_env(), analytics_url)
    assert drifted[0]["display"] == "scalar" and drifted[1]["display"] == "table"
    metabase.calls.clear()

    report = push_dashboards(MetabaseConfig.from_env(), analytics_url)

    assert [(c.method, c.path) for c in metabase.mutations()] == [
        ("PUT", f"/api/card/{drifted[1]['id']}")
    ]
    assert report.progress.changes() == [
        f"updated card {drifted[1]['description'].split('`')[1]} (id {drifted[1]['id']}): display"
    ]


def test_an_edit_push_leaves_alone_still_counts_when_a_later_push_would_overwrite_it(
    analytics_url: str, metabase: MetabaseStandIn
) -> None:
    """Someone sets a chart option the templates do not set: nothing to put back, but a
    later push that rewrites the card would lose it, so that one asks for --force."""
    push_dashboards(MetabaseConfig.from_env(), analytics_url)
    card = next(c for c in metabase.cards.values() if c["name"] == "Dead Stock Count")
    settings = {**card["visualization_settings"], "card.title": "Zombies"}
    metabase.edit("card", card["id"], visualization_settings=settings)
    metabase.calls.clear()

    assert push_dashboards(MetabaseConfig.from_env(), analytics_url).progress.changes() == []
    card["dataset_query"]["native"]["query"] += " -- drifted"  # no revision
    with pytest.raises(EditedInMetabase, match=r"card inventory_management/dead_stock_count"):
        push_dashboards(MetabaseConfig.from_env(), analytics_url)
    assert metabase.mutations() == []


def test_a_view_hidden_in_metabase_is_still_found(
    analytics_url: str, metabase: MetabaseStandIn
) -> None:
    push_dashboards(MetabaseConfig.from_env(), analytics_url)
    metabase.hide_table("metabase_executive_metrics")
    metabase.calls.clear()
    push_dashboards(MetabaseConfig.from_env(), analytics_url, sync_timeout=1)
    assert metabase.mutations() == []
    metadata = [c for c in metabase.calls if c.path.endswith("/metadata")]
    assert metadata and all(c.query["include_hidden"] == ["true"] for c in metadata)


def test_only_a_top_level_collection_of_nobody_is_adopted(
    analytics_url: str, metabase: MetabaseStandIn
) -> None:
    personal = metabase.personal_collection_id
    lookalikes = [
        {"name": COLLECTION_NAME, "location": f"/{personal}/", "personal_owner_id": None},
        {"name": COLLECTION_NAME, "location": "/", "personal_owner_id": 1, "is_personal": True},
    ]
    for lookalike in lookalikes:
        collection_id = max(metabase.collections) + 100
        metabase.collections[collection_id] = {
            "is_personal": False, **lookalike, "id": collection_id, "archived": False,
            "description": None,
        }  # fmt: skip
    report = push_dashboards(MetabaseConfig.from_env(), analytics_url)
    created = metabase.collections[report.collection_id]
    assert created["location"] == "/" and not created["is_personal"]
    assert report.collection_id not in {
        c["id"]
        for c in metabase.collections.values()
        if c.get("personal_owner_id") or c["location"] != "/"
    }
    assert mutation_counts(metabase)[("POST", "/api/collection")] == 1


def test_plan_lists_what_push_would_do_and_changes_nothing(
    analytics_url: str, metabase: MetabaseStandIn, use_database, capsys
) -> None:
    use_database(analytics_url)
    assert main(["dashboards", "plan"]) == 2
    out = capsys.readouterr().out
    assert "create    database connection 'SoleFlip Analytics'" in out
    assert out.count("create    card ") == 31 and out.count("create    dashboard ") == 4
    assert out.strip().endswith("37 to create, 0 to update, 0 to archive, 0 unchanged")
    assert metabase.mutations() == []

    assert main(["dashboards", "push"]) == 0
    capsys.readouterr()
    assert main(["dashboards", "plan"]) == 0
    assert (
        capsys.readouterr()
        .out.strip()
        .endswith("0 to create, 0 to update, 0 to archive, 37 unchanged")
    )

    card = next(c for c in metabase.cards.values() if c["name"] == "Dead Stock Count")
    card["display"] = "table"
    card["dataset_query"]["native"]["query"] += " -- changed"
    metabase.calls.clear()
    assert main(["dashboards", "plan"]) == 2
    [line, summary] = capsys.readouterr().out.strip().splitlines()
    key = card["description"].split("`")[1]
    assert line.strip() == (
        f"update    card {key} (id {card['id']}): display, dataset_query.native.query"
    )
    assert summary.endswith("0 to create, 1 to update, 0 to archive, 36 unchanged")
    assert metabase.mutations() == []


def test_plan_failing_exits_1_with_one_sentence(
    analytics_url: str, metabase: MetabaseStandIn, use_database, monkeypatch, capsys
) -> None:
    use_database(analytics_url)
    monkeypatch.setenv("METABASE_API_KEY", "not-the-key")
    assert main(["dashboards", "plan"]) == 1
    [error] = capsys.readouterr().err.splitlines()
    assert error == (
        "soleflip-bi: error: Metabase plan stopped: GET /api/database failed (HTTP 401): "
        "Unauthenticated"
    )


def test_an_object_edited_in_metabase_is_overwritten_only_with_force(
    analytics_url: str, metabase: MetabaseStandIn, use_database, capsys
) -> None:
    use_database(analytics_url)
    assert main(["dashboards", "push"]) == 0
    card = next(c for c in metabase.cards.values() if c["name"] == "Dead Stock Count")
    key = card["description"].split("`")[1]
    metabase.edit("card", card["id"], name="Zombie sneakers")
    dashboard = next(d for d in metabase.dashboards.values() if d["name"] == "Executive Dashboard")
    metabase.edit("dashboard", dashboard["id"], name="Exec (mine)")
    capsys.readouterr()
    metabase.calls.clear()

    assert main(["dashboards", "push"]) == 2
    [error] = capsys.readouterr().err.splitlines()
    assert error.startswith(
        "soleflip-bi: error: 2 managed object(s) were edited in Metabase since the last push "
        "and would be overwritten: "
    )
    assert f"card {key} (id {card['id']}) by Jane Doe at " in error
    assert f"dashboard executive (id {dashboard['id']}) by Jane Doe at " in error
    assert error.endswith("then `dashboards push --force` to overwrite")
    assert metabase.mutations() == [] and card["name"] == "Zombie sneakers"

    assert main(["dashboards", "plan"]) == 2
    out = capsys.readouterr().out
    assert f"update    card {key} (id {card['id']}): name [edited in Metabase by Jane Doe at" in out
    assert "`dashboards push --force` overwrites" in out

    assert main(["dashboards", "push", "--force"]) == 0
    assert card["name"] == "Dead Stock Count" and dashboard["name"] == "Executive Dashboard"
    assert sorted((c.method, c.path) for c in metabase.mutations()) == [
        ("PUT", f"/api/card/{card['id']}"),
        ("PUT", f"/api/dashboard/{dashboard['id']}"),
    ]
    capsys.readouterr()
    assert main(["dashboards", "push"]) == 0  # its own writes are not taken for edits
    assert "0 created, 0 updated, 35 unchanged" in capsys.readouterr().out


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
    assert [c.path for c in metabase.calls[:2]] == ["/api/session/properties", "/api/session"]
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
    assert len(metabase.cards) == 31 and len(managed_collections(metabase)) == 1
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
    [collection_id] = managed_collections(metabase)
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


def tick_cache_sensor(instance: dg.DagsterInstance, url: str, cursor: str | None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"postgres": PostgresResource(database_url=url)}
    )
    return metabase_cache_sensor.evaluate_tick(context)


@pytest.mark.parametrize(
    ("premium", "caching", "cached", "said"),
    [
        (True, True, True, "dropped the cached results of {n} cards (metabase_inventory_overview)"),
        (False, True, True, "this Metabase cannot drop cached results (POST /api/cache/invalidate "
                      "needs Pro or Enterprise): cards show cached results until they expire"),
        (True, False, True, "caching is off in Metabase (enable-query-caching): nothing to do"),
        (True, True, False, "nothing was cached for the {n} cards reading "
                            "metabase_inventory_overview"),
    ],
    ids=["pro", "open-source", "caching-off", "nothing-cached"],
)  # fmt: skip
def test_cards_reading_a_refreshed_view_lose_their_cached_results(
    analytics_url: str,
    metabase: MetabaseStandIn,
    instance: dg.DagsterInstance,
    premium: bool,
    caching: bool,
    cached: bool,
    said: str,
) -> None:
    metabase.premium, metabase.caching, metabase.cached = premium, caching, cached
    push_dashboards(MetabaseConfig.from_env(), analytics_url)
    reading = {
        card["id"]
        for card in metabase.cards.values()
        if card["description"].split("`")[1] in cards_reading(["metabase_inventory_overview"])
    }
    assert len(reading) == 7

    first = tick_cache_sensor(instance, analytics_url, None)
    assert first.skip_message == "watching the views from now on"
    quiet = tick_cache_sensor(instance, analytics_url, first.cursor)
    assert quiet.skip_message == "no view the cards read has changed"

    instance.report_runless_asset_event(
        dg.AssetMaterialization(view_asset_key("metabase_inventory_overview"))
    )
    after = tick_cache_sensor(instance, analytics_url, quiet.cursor)

    assert after.skip_message == said.format(n=len(reading))
    dropped = premium and caching and cached
    assert sorted(metabase.invalidated) == (sorted(reading) if dropped else [])
    assert after.run_requests == []
    again = tick_cache_sensor(instance, analytics_url, after.cursor)
    assert again.skip_message == "no view the cards read has changed"
    assert len(metabase.invalidated) == (len(reading) if dropped else 0)


def test_the_cache_sensor_skips_refreshes_that_changed_nothing_and_says_when_unconfigured(
    analytics_url: str, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("METABASE_URL", raising=False)
    key = view_asset_key("metabase_executive_metrics")
    cursor = tick_cache_sensor(instance, analytics_url, None).cursor
    instance.report_runless_asset_event(
        dg.AssetMaterialization(key, metadata={"refresh_mode": "skipped"})
    )
    tick = tick_cache_sensor(instance, analytics_url, cursor)
    assert tick.skip_message == "no view the cards read has changed"
    instance.report_runless_asset_event(
        dg.AssetMaterialization(key, metadata={"refresh_mode": "concurrent"})
    )
    tick = tick_cache_sensor(instance, analytics_url, tick.cursor)
    assert tick.skip_message == "METABASE_URL is not set: no Metabase cache to invalidate"
