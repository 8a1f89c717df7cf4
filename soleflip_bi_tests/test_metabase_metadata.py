"""Metabase's data model from the registry (`dashboards metadata plan | push`), against the
stand-in of three Metabase releases: every view's and column's display name, description,
semantic type and visibility written; a second push writes nothing; an analyst's edit in
Table Metadata is reported and kept, and overwritten only with --force."""

from __future__ import annotations

import time
from collections.abc import Iterator

import dagster as dg
import psycopg
import pytest

from soleflip_bi.cli.main import main
from soleflip_bi.dashboards.assets import METABASE_DASHBOARDS_KEY
from soleflip_bi.dashboards.data_model import DATA_MODEL_KEY, DATA_MODEL_SENSOR
from soleflip_bi.dashboards.metadata import SEMANTIC_TYPES, display_name
from soleflip_bi.definitions import defs
from soleflip_bi.views.registry import VIEWS, get_view
from soleflip_bi.views.runs import refresh_views
from soleflip_bi_tests.support.metabase_standin import MetabaseStandIn, configure
from soleflip_bi_tests.support.shop import new_shop


@pytest.fixture(scope="module")
def analytics_url() -> Iterator[str]:
    with new_shop(orders=300, seed=21) as url:
        yield url


@pytest.fixture(params=[48, 53, 57])
def metabase(request, monkeypatch, analytics_url: str, use_database) -> Iterator[MetabaseStandIn]:
    use_database(analytics_url)
    standin = MetabaseStandIn(release=request.param, sync_delay=0.05)
    with standin.running():
        configure(standin, monkeypatch)
        yield standin


def _tables(metabase: MetabaseStandIn) -> dict[str, dict]:
    [tables] = metabase.tables.values()
    return {t["name"]: t for t in tables if t["schema"] == "analytics"}


def _field(metabase: MetabaseStandIn, view: str, column: str) -> dict:
    return next(f for f in _tables(metabase)[view]["fields"] if f["name"] == column)


def _writes(metabase: MetabaseStandIn) -> list[str]:
    return [c.path for c in metabase.mutations() if c.path.startswith(("/api/table", "/api/field"))]


def test_a_push_writes_every_meaning_and_a_second_writes_nothing(
    metabase: MetabaseStandIn, capsys
) -> None:
    assert main(["dashboards", "metadata", "push"]) == 0
    tables = _tables(metabase)
    ids = {(t["name"], f["name"]): f["id"] for t in tables.values() for f in t["fields"]}
    for spec in VIEWS:
        table = tables[spec.name]
        assert table["description"] == spec.description
        assert table["display_name"] == display_name(spec.name.removeprefix("metabase_"))
        for column in spec.columns:
            field = _field(metabase, spec.name, column.name)
            assert field["description"] == column.description, (spec.name, column.name)
            assert field["display_name"] == display_name(column.name)
            if column.references:
                view, target = column.references.split(".")
                assert field["semantic_type"] == "type/FK"
                assert field["fk_target_field_id"] == ids[(view, target)]
            else:
                assert field["semantic_type"] == SEMANTIC_TYPES.get(column.semantic or "")
    brand = "metabase_brand_analytics"
    assert _field(metabase, brand, "total_revenue")["semantic_type"] == "type/Currency"
    assert _field(metabase, brand, "total_revenue")["settings"] == {"currency": "EUR"}
    assert _field(metabase, brand, "market_share_pct")["semantic_type"] == "type/Percentage"
    assert _field(metabase, brand, "brand_id")["semantic_type"] == "type/PK"
    product = "metabase_product_performance"
    assert _field(metabase, product, "brand_id")["fk_target_field_id"] == ids[(brand, "brand_id")]
    assert _field(metabase, "metabase_customer_geography", "city")["semantic_type"] == "type/City"
    written = len(_writes(metabase))
    assert written > len(VIEWS) * 5
    capsys.readouterr()

    assert main(["dashboards", "metadata", "plan"]) == 0
    assert main(["dashboards", "metadata", "push"]) == 0
    assert len(_writes(metabase)) == written  # nothing written the second time
    assert "0 written" in capsys.readouterr().out


def test_an_analysts_edit_is_reported_and_kept_unless_forced(
    metabase: MetabaseStandIn, capsys
) -> None:
    view = "metabase_brand_analytics"
    assert main(["dashboards", "metadata", "push"]) == 0
    metabase.analyst_edits_field(view, "total_revenue", description="Revenue as finance counts it")
    ours = next(c.description for c in get_view(view).columns if c.name == "total_revenue")
    capsys.readouterr()

    assert main(["dashboards", "metadata", "plan"]) == 0  # nothing of ours is pending
    out = capsys.readouterr().out
    assert (
        f"analytics.{view}.total_revenue: description (edited in Metabase since the last "
        "push: kept)"
    ) in out
    assert main(["dashboards", "metadata", "push"]) == 0
    assert "1 edited in Metabase and kept" in capsys.readouterr().out
    assert _field(metabase, view, "total_revenue")["description"] == "Revenue as finance counts it"
    assert main(["dashboards", "metadata", "push"]) == 0  # still kept the next time
    assert _field(metabase, view, "total_revenue")["description"] == "Revenue as finance counts it"

    assert main(["dashboards", "metadata", "push", "--force"]) == 0
    assert _field(metabase, view, "total_revenue")["description"] == ours


def test_a_view_metabase_does_not_know_yet_is_synced_first(
    metabase: MetabaseStandIn, capsys
) -> None:
    """The connection exists but Metabase has not synced the views: the push asks for a
    schema sync and waits for it."""
    assert main(["dashboards", "metadata", "push"]) == 0
    assert metabase.calls_to("POST", "/api/database") or metabase.calls_to(
        "POST", f"/api/database/{next(iter(metabase.databases))}/sync_schema"
    )
    assert (
        _tables(metabase)["sales_summary_daily"]["description"]
        == get_view("sales_summary_daily").description
    )


def test_every_reference_names_another_views_key() -> None:
    """A foreign key points at a registered view's key column: one line in a
    ``.columns.toml`` that names a view or column that does not exist fails here."""
    keys = {(s.name, c.name) for s in VIEWS for c in s.columns if c.semantic == "key"}
    references = [
        (spec.name, c.name, tuple(c.references.split(".")))
        for spec in VIEWS
        for c in spec.columns
        if c.references
    ]
    assert len(references) >= 8
    for view, column, target in references:
        assert target in keys, (view, column, target)


def _sensor_tick(instance, cursor: str | None) -> dg.SensorResult:
    sensor = defs.get_repository_def().get_sensor_def(DATA_MODEL_SENSOR)
    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
        return sensor(context)


def test_the_data_model_is_written_in_dagster_after_a_build_changed_descriptions(
    analytics_url: str, use_database, monkeypatch, instance
) -> None:
    """The sensor asks for the data model and the dashboards in one run when it was never
    written and after a view step set descriptions in place; not after a plain refresh."""
    use_database(analytics_url)
    spec = get_view("metabase_brand_analytics")
    standin = MetabaseStandIn(release=53, sync_delay=0.05)
    with standin.running():
        configure(standin, monkeypatch)
        assert refresh_views(defs, [spec], instance).success
        tick = _sensor_tick(instance, None)
        [request] = tick.run_requests  # never written
        assert request.tags["soleflip/why"] == "never written"
        job = defs.get_repository_def().get_implicit_global_asset_job_def()
        written = job.execute_in_process(
            instance=instance, asset_selection=[DATA_MODEL_KEY, METABASE_DASHBOARDS_KEY]
        )
        assert written.success
        assert _tables(standin)[spec.name]["description"] == spec.description
        [event] = written.asset_materializations_for_node("metabase__data_model")
        assert event.metadata["written"].value > 100

        assert refresh_views(defs, [spec], instance).success  # nothing changed
        tick = _sensor_tick(instance, tick.cursor)
        assert tick.skip_reason.skip_message == "no view's columns or descriptions changed"

        with psycopg.connect(analytics_url, autocommit=True) as conn:  # a comment lost by hand
            conn.execute(f"comment on column analytics.{spec.name}.brand_name is null")
        assert refresh_views(defs, [spec], instance).success  # sets it again, in place
        [request] = _sensor_tick(instance, tick.cursor).run_requests
        assert request.tags["soleflip/why"] == f"columns or descriptions changed: {spec.name}"
        assert set(request.asset_selection or ()) <= {DATA_MODEL_KEY, METABASE_DASHBOARDS_KEY}


def test_without_metabase_the_data_model_is_skipped_in_one_line(
    analytics_url: str, use_database, monkeypatch, instance
) -> None:
    use_database(analytics_url)
    monkeypatch.delenv("METABASE_URL", raising=False)
    job = defs.get_repository_def().get_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=[DATA_MODEL_KEY])
    [event] = result.asset_materializations_for_node("metabase__data_model")
    assert event.metadata["mode"].value == "not written: METABASE_URL is not set"


def test_a_type_metabase_guessed_again_after_a_retype_is_written_again(
    metabase: MetabaseStandIn, capsys
) -> None:
    """Sync classifies a retyped field again from its name; that is Metabase's change,
    not an analyst's: the next push writes the registry's type again instead of keeping it."""
    view = "metabase_brand_analytics"
    assert main(["dashboards", "metadata", "push"]) == 0
    assert _field(metabase, view, "total_revenue")["semantic_type"] == "type/Currency"
    metabase.field_synced_as(view, "total_revenue", "integer")  # its type at that push
    metabase.field_synced_as(view, "brand_segment", "integer")
    assert main(["dashboards", "metadata", "push"]) == 0
    metabase.sync_now()  # a rebuild retyped both: sync guesses their types again
    deadline = time.monotonic() + 10
    while _field(metabase, view, "total_revenue")["semantic_type"] is not None:
        assert time.monotonic() < deadline, "the stand-in's sync did not run"
        time.sleep(0.05)
    metabase.analyst_edits_field(view, "brand_segment", description="Segment as sales say it")
    capsys.readouterr()

    assert main(["dashboards", "metadata", "push"]) == 0
    out = capsys.readouterr().out
    assert f"updated analytics.{view}.total_revenue: semantic_type" in out
    assert _field(metabase, view, "total_revenue")["semantic_type"] == "type/Currency"
    assert f"kept analytics.{view}.brand_segment: description" in out  # an analyst's edit
    assert "1 edited in Metabase and kept" in out
