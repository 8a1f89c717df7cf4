"""What Metabase reads, before a change is applied: an analyst's native question and
query-builder question on metabase_brand_analytics, against the stand-in of three Metabase
releases (0.48 legacy MBQL and ``dataset``, 0.53, 0.57 MBQL 5). A redefinition that renames
``total_revenue`` is named by `views plan` (exit 2), refused by `views refresh` and by the
Dagster run in one sentence naming both questions, the old view left as it was, and
applied with --force; a redefinition that only adds a column is not blocked."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest

import soleflip_bi.definitions as defs_module
from soleflip_bi.cli.main import main
from soleflip_bi.dashboards.assets import METABASE_DASHBOARDS_KEY
from soleflip_bi.dashboards.data_model import DATA_MODEL_KEY
from soleflip_bi.definitions import defs
from soleflip_bi.metabase.questions import configured_questions
from soleflip_bi.shared.columns import Column
from soleflip_bi.views.readers import FORCE_TAG
from soleflip_bi.views.registry import ViewSpec, get_view
from soleflip_bi.views.runs import refresh_views
from soleflip_bi_tests.support.metabase_standin import MetabaseStandIn, configure
from soleflip_bi_tests.support.shop import new_shop

BRAND = "metabase_brand_analytics"
DEFS_FOLDER = Path(defs_module.__file__).parent / "defs"
NATIVE_SQL = "select brand_name, total_revenue from analytics.metabase_brand_analytics"


@pytest.fixture
def analytics_url() -> Iterator[str]:
    """A shop of its own for each test: a redefinition applied is not undone."""
    with new_shop(orders=200, seed=23) as url:
        yield url


@pytest.fixture(params=[48, 53, 57])
def metabase(request, monkeypatch, analytics_url: str, use_database) -> Iterator[MetabaseStandIn]:
    use_database(analytics_url)
    standin = MetabaseStandIn(release=request.param, sync_delay=0.05)
    with standin.running():
        configure(standin, monkeypatch)
        assert main(["dashboards", "metadata", "push"]) == 0  # Metabase knows the views
        yield standin


def _field_id(metabase: MetabaseStandIn, view: str, column: str) -> int:
    [tables] = metabase.tables.values()
    table = next(t for t in tables if t["name"] == view)
    return next(f["id"] for f in table["fields"] if f["name"] == column)


def _table_id(metabase: MetabaseStandIn, view: str) -> int:
    [tables] = metabase.tables.values()
    return next(t["id"] for t in tables if t["name"] == view)


def _analyst_questions(metabase: MetabaseStandIn) -> tuple[int, int]:
    [database_id] = metabase.databases
    native = metabase.analyst_saves_question(
        "Brand revenue (SQL)",
        {"database": database_id, "type": "native",
         "native": {"query": NATIVE_SQL, "template-tags": {}}},
        collection="Finance",
    )  # fmt: skip
    built = metabase.analyst_saves_question(
        "Revenue per brand",
        {"database": database_id, "type": "query",
         "query": {"source-table": _table_id(metabase, BRAND),
                   "aggregation": [["sum", ["field", _field_id(metabase, BRAND, "total_revenue"),
                                            None]]],
                   "breakout": [["field", _field_id(metabase, BRAND, "brand_name"), None]]}},
    )  # fmt: skip
    return native, built


def _redefined(monkeypatch, rename: bool) -> None:
    """The registry as a change to the brand view would leave it: ``total_revenue``
    renamed to ``revenue_eur``, or (``rename`` false) a column ``brand_rank`` added."""
    sql, columns = ViewSpec.sql.fget, ViewSpec.columns.fget
    spec = get_view(BRAND)
    body = spec.sql.strip().rstrip(";")
    if rename:
        live = [c.name for c in spec.columns]
        new_sql = (
            "select "
            + ", ".join(c if c != "total_revenue" else "total_revenue as revenue_eur" for c in live)
            + f" from ({body}) v"
        )
        new_columns = tuple(
            dataclasses.replace(c, name="revenue_eur") if c.name == "total_revenue" else c
            for c in spec.columns
        )
        indexes = tuple(
            dataclasses.replace(i, columns=("revenue_eur",))
            if i.columns == ("total_revenue",)
            else i
            for i in spec.indexes
        )
        # the registry entry as the change writes it (a frozen dataclass: set in place)
        monkeypatch.setitem(spec.__dict__, "indexes", indexes)
        monkeypatch.setitem(spec.__dict__, "revenue_column", "revenue_eur")
    else:
        new_sql = f"select v.*, 1::integer as brand_rank from ({body}) v"
        new_columns = (*spec.columns, Column("brand_rank", "integer", "The brand's rank."))
    monkeypatch.setattr(ViewSpec, "sql", property(lambda s: new_sql if s.name == BRAND else sql(s)))
    monkeypatch.setattr(
        ViewSpec, "columns", property(lambda s: new_columns if s.name == BRAND else columns(s))
    )


def _live_columns(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            r[0]
            for r in conn.execute(
                "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 "
                "and not attisdropped order by attnum",
                (f"analytics.{BRAND}",),
            )
        ]


def test_both_questions_are_read_with_the_columns_they_use(metabase: MetabaseStandIn) -> None:
    native, built = _analyst_questions(metabase)
    found = {q.id: q for q in configured_questions().found}
    assert set(found) == {native, built}  # the project's own dashboard cards are not listed
    assert found[native].reads == {BRAND: frozenset({"brand_name", "total_revenue"})}
    assert found[native].collection == "Finance"
    assert found[built].reads == {BRAND: frozenset({"brand_name", "total_revenue"})}
    assert found[built].collection == "Our analytics"
    assert found[built].url == f"{metabase.url}/question/{built}-revenue-per-brand"

    metabase.analyst_deletes_question(native)
    assert [q.id for q in configured_questions().found] == [built]


def test_a_rename_is_named_by_the_plan_and_refused_until_forced(
    metabase: MetabaseStandIn, analytics_url: str, monkeypatch, instance, capsys
) -> None:
    native, built = _analyst_questions(metabase)
    _redefined(monkeypatch, rename=True)
    before = _live_columns(analytics_url)
    capsys.readouterr()

    assert main(["views", "plan", BRAND]) == 2
    out = capsys.readouterr().out
    for name, card in (("Brand revenue (SQL)", native), ("Revenue per brand", built)):
        assert (f'  breaks question "{name}" ({metabase.url}/question/{card}-') in out, out
    assert (
        f"reads {BRAND}.total_revenue, which is dropped or renamed (the rebuild adds revenue_eur)"
        in out
    )
    assert "2 saved Metabase question(s) read the views; 2 would break" in out

    assert main(["views", "refresh", BRAND]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one sentence
    assert f"rebuilding {BRAND} would break 2 Metabase question(s)" in err
    assert '"Brand revenue (SQL)"' in err and '"Revenue per brand"' in err
    assert _live_columns(analytics_url) == before

    # The same refusal in any Dagster run (a launch from the UI, a sensor's run).
    spec = get_view(BRAND)
    result = refresh_views(defs, [spec], instance, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    said = failure.step_failure_data.user_failure_data.description
    assert said.startswith(f"rebuilding {BRAND} would break 2 Metabase question(s)")
    assert f"the tag {FORCE_TAG}=true" in said
    assert _live_columns(analytics_url) == before
    with psycopg.connect(analytics_url) as conn:  # still readable, as it was
        assert conn.execute(f"select count(*) from analytics.{BRAND}").fetchone()[0] > 0

    assert main(["views", "refresh", BRAND, "--force"]) == 0
    assert "revenue_eur" in _live_columns(analytics_url)
    assert "total_revenue" not in _live_columns(analytics_url)


def test_an_added_column_breaks_nothing(
    metabase: MetabaseStandIn, analytics_url: str, monkeypatch, instance, capsys
) -> None:
    _analyst_questions(metabase)
    _redefined(monkeypatch, rename=False)
    capsys.readouterr()
    assert main(["views", "plan", BRAND]) == 2  # a rebuild is pending, nothing breaks
    out = capsys.readouterr().out
    assert "breaks" not in out
    assert "2 saved Metabase question(s) read the views\n" in out
    assert main(["views", "refresh", BRAND]) == 0
    assert _live_columns(analytics_url)[-1] == "brand_rank"


def test_without_metabase_the_plan_says_so_in_one_line(
    analytics_url: str, use_database, monkeypatch, capsys
) -> None:
    use_database(analytics_url)
    monkeypatch.delenv("METABASE_URL", raising=False)
    main(["views", "plan", BRAND])
    out = capsys.readouterr().out
    assert (
        "METABASE_URL is not set: the Metabase questions that read the views are not checked" in out
    )


def _load_location() -> dg.Definitions:
    """The code location as a code server loads it: its definitions built anew."""
    return dg.load_from_defs_folder(path_within_project=DEFS_FOLDER)


def test_the_questions_are_assets_downstream_of_the_view_by_collection(
    metabase: MetabaseStandIn,
) -> None:
    native, built = _analyst_questions(metabase)
    graph = _load_location().get_repository_def().asset_graph
    questions = {
        key: graph.get(key) for key in graph.get_all_asset_keys() if key.path[0] == "metabase"
    }
    native_key = dg.AssetKey(["metabase", "question", f"brand_revenue_sql_{native}"])
    built_key = dg.AssetKey(["metabase", "question", f"revenue_per_brand_{built}"])
    assert set(questions) == {native_key, built_key, METABASE_DASHBOARDS_KEY, DATA_MODEL_KEY}
    view = dg.AssetKey(["analytics", BRAND])
    for key, group in ((native_key, "metabase_finance"), (built_key, "metabase_our_analytics")):
        node = questions[key]
        assert node.parent_keys == {view}
        assert node.group_name == group
        assert node.metadata["columns_used"].value == {BRAND: ["brand_name", "total_revenue"]}
    assert questions[built_key].metadata["metabase_url"].value == (
        f"{metabase.url}/question/{built}-revenue-per-brand"
    )
    sensor = _load_location().get_repository_def().get_sensor_def("metabase_questions_sensor")
    with dg.build_sensor_context() as context:
        first = sensor(context)
    # Each question is recorded as Metabase saved it: the UI shows it materialized.
    assert {e.asset_key for e in first.asset_events} == {native_key, built_key}
    assert {e.metadata["collection"].value for e in first.asset_events} == {
        "Finance",
        "Our analytics",
    }
    with dg.build_sensor_context(cursor=first.cursor) as context:
        said = sensor(context)
    assert said.asset_events == []
    assert said.skip_reason.skip_message == (
        "the graph shows the 2 Metabase question(s) that read the views"
    )

    # Deleted in Metabase: gone at the next load; until then the sensor says so.
    loaded = _load_location()
    metabase.analyst_deletes_question(native)
    sensor = loaded.get_repository_def().get_sensor_def("metabase_questions_sensor")
    with dg.build_sensor_context(cursor=first.cursor) as context:
        said = sensor(context)
    assert said.skip_reason.skip_message == (
        "Metabase's questions differ from the graph (deleted: Brand revenue (SQL)): "
        "Reload the code location (Deployment) to show them"
    )
    keys = _load_location().get_repository_def().asset_graph.get_all_asset_keys()
    assert native_key not in keys and built_key in keys


def test_metabase_down_leaves_the_location_loading(
    analytics_url: str, use_database, monkeypatch
) -> None:
    use_database(analytics_url)
    monkeypatch.setenv("METABASE_URL", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("METABASE_API_KEY", "key")
    repository = _load_location().get_repository_def()
    assert [
        k for k in repository.asset_graph.get_all_asset_keys() if k.path[1:2] == ["question"]
    ] == []
    with dg.build_sensor_context() as context:
        said = repository.get_sensor_def("metabase_questions_sensor")(context)
    assert said.skip_reason.skip_message.startswith(
        "Metabase could not be read: GET /api/session/properties"
    )
