"""The dashboard templates: 31 cards whose SQL runs on the real views, exported and listed.

Every card is executed against the views built from the demo data, once with its filters
unset and once set to real values, with the template tags substituted the way Metabase
does (``soleflip_bi.dashboards.render``), and its result must have the shape its chart
needs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from soleflip_bi.cli.main import main
from soleflip_bi.dashboards.assets import METABASE_DASHBOARDS_KEY, metabase_dashboards
from soleflip_bi.dashboards.model import GRID_COLUMNS, Card, Dashboard, Display, FilterKind
from soleflip_bi.dashboards.render import render_card
from soleflip_bi.dashboards.templates import DASHBOARDS
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.definitions import defs
from soleflip_bi.views.assets import view_asset_key
from soleflip_bi.views.materialize import view_columns
from soleflip_bi_tests.support.shop import new_shop

EXPECTED_CARDS = {
    "executive": 8,
    "product_analytics": 7,
    "platform_performance": 8,
    "inventory_management": 8,
}
ALL_CARDS = [(d, c) for d in DASHBOARDS for c in d.cards]
CARD_IDS = [d.card_key(c) for d, c in ALL_CARDS]


@pytest.fixture(scope="module")
def analytics_url() -> Iterator[str]:
    """The demo shop with every view built, in a database of this module's own."""
    with new_shop() as url:
        yield url


@pytest.fixture(scope="module")
def filter_values(analytics_url: str) -> dict[str, str]:
    """A real value for every dashboard filter, taken from the demo data."""
    with psycopg.connect(analytics_url) as conn:
        [last] = conn.execute(
            "select max(sale_date) from analytics.metabase_executive_metrics"
        ).fetchone()
        top = lambda query: conn.execute(query).fetchone()[0]  # noqa: E731
        return {
            "date_range": f"{last.replace(year=last.year - 1)}~{last}",
            "brand": top("select brand_name from analytics.metabase_brand_analytics "
                         "order by total_revenue desc limit 1"),
            "platform": top("select platform_name from analytics.metabase_platform_performance "
                            "order by total_revenue desc limit 1"),
            "stock_category": "Dead Stock",
            "supplier": top("select supplier_name from analytics.metabase_supplier_performance "
                            "where supplier_name <> 'Unknown' order by unsold_units desc limit 1"),
        }  # fmt: skip


def test_four_dashboards_with_31_cards() -> None:
    assert {d.name: len(d.cards) for d in DASHBOARDS} == EXPECTED_CARDS
    assert sum(EXPECTED_CARDS.values()) == 31


def test_every_sql_file_is_a_card_and_every_card_has_one() -> None:
    folder = resources.files("soleflip_bi.dashboards").joinpath("sql")
    files = {
        f"{dashboard.name}/{entry.name.removesuffix('.sql')}"
        for dashboard in DASHBOARDS
        for entry in folder.joinpath(dashboard.name).iterdir()
        if entry.name.endswith(".sql")
    }
    assert files == {d.card_key(c) for d, c in ALL_CARDS}


@pytest.mark.parametrize(("dashboard", "card"), ALL_CARDS, ids=CARD_IDS)
def test_card_sql_declares_exactly_its_filters_and_reads_only_its_view(
    dashboard: Dashboard, card: Card
) -> None:
    text = dashboard.sql(card)
    tags = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", text))
    assert tags == set(card.filter_slugs)
    assert tags <= {f.slug for f in dashboard.filters}
    for slug in card.field_filters:  # a field filter outside [[ ]] would be "1 = 1" anyway
        assert re.search(r"\[\[[^\]]*\{\{\s*" + slug + r"\s*\}\}[^\]]*\]\]", text)
    code = re.sub(r"--[^\n]*", "", text)
    assert set(re.findall(r"analytics\.(\w+)", code)) == {card.view}
    # Metabase's field filters name the view itself, so it must not be aliased.
    following = re.findall(rf"analytics\.{card.view}\s+(\w+)", code)
    assert set(following) <= {"where", "cross", "group", "order", "limit"}


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.name)
def test_layout_fits_the_grid_without_overlaps(dashboard: Dashboard) -> None:
    taken: set[tuple[int, int]] = set()
    for card in dashboard.cards:
        layout = card.layout
        assert layout.col + layout.size_x <= GRID_COLUMNS, card.key
        cells = {
            (row, col)
            for row in range(layout.row, layout.row + layout.size_y)
            for col in range(layout.col, layout.col + layout.size_x)
        }
        assert not cells & taken, f"{card.key} overlaps another card"
        taken |= cells


def test_field_filters_point_at_existing_columns(analytics_url: str) -> None:
    with psycopg.connect(analytics_url) as conn:
        for dashboard, card in ALL_CARDS:
            columns = {name for name, _type in view_columns(conn, card.view)}
            assert set(card.field_filters.values()) <= columns, dashboard.card_key(card)


@pytest.mark.parametrize("filtered", [False, True], ids=["unfiltered", "filtered"])
@pytest.mark.parametrize(("dashboard", "card"), ALL_CARDS, ids=CARD_IDS)
def test_card_runs_on_the_views_and_fits_its_chart(
    analytics_url: str,
    filter_values: dict[str, str],
    dashboard: Dashboard,
    card: Card,
    filtered: bool,
) -> None:
    values = {slug: filter_values[slug] for slug in card.filter_slugs} if filtered else {}
    with psycopg.connect(analytics_url) as conn:
        cursor = conn.execute(render_card(dashboard, card, values))
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    assert_fits_chart(card, columns, rows)
    for slug, column in card.field_filters.items():
        kind = dashboard.filter(slug).kind
        if slug in values and kind is FilterKind.TEXT and column in columns:
            assert {row[column] for row in rows} == {values[slug]}


def assert_fits_chart(card: Card, columns: list[str], rows: list[dict[str, object]]) -> None:
    chart = card.chart
    assert rows, f"{card.key} returned no rows"
    if chart.display is Display.SCALAR:
        assert len(rows) == 1 and columns == list(chart.metrics)
        assert is_number(rows[0][columns[0]])
        return
    if chart.display is Display.TABLE:
        assert len(columns) >= 2
        return
    assert chart.dimension in columns and set(chart.metrics) <= set(columns)
    for metric in chart.metrics:
        values = [row[metric] for row in rows if row[metric] is not None]
        assert values and all(map(is_number, values)), f"{card.key}.{metric} is not numeric"
    if chart.display is Display.MAP:
        assert all(re.fullmatch(r"[A-Z]{2}", str(row[chart.dimension])) for row in rows)
    if chart.display in (Display.PIE, Display.BAR):
        dimension_values = [row[chart.dimension] for row in rows]
        assert len(dimension_values) == len(set(dimension_values)), "one slice/bar per value"


def is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def test_relative_date_filters_match_metabases_meaning(analytics_url: str) -> None:
    """ "past30days" is the 30 days before today; the executive KPI agrees with the view."""
    dashboard = DASHBOARDS[0]
    card = next(c for c in dashboard.cards if c.key == "total_revenue")
    with psycopg.connect(analytics_url) as conn:
        shown = conn.execute(render_card(dashboard, card, {"date_range": "past30days"}))
        expected = conn.execute(
            "select coalesce(sum(total_revenue), 0) from analytics.sales_summary_daily "
            "where sale_date >= current_date - 30 and sale_date < current_date"
        )
        assert shown.fetchone()[0] == expected.fetchone()[0]
        one_day = conn.execute(render_card(dashboard, card, {"date_range": str(date.today())}))
        assert one_day.fetchone()[0] >= 0


def test_export_writes_one_metabase_file_per_dashboard(tmp_path: Path, capsys) -> None:
    assert main(["dashboards", "export", str(tmp_path / "out")]) == 0
    files = sorted((tmp_path / "out").glob("*.json"))
    assert [f.stem for f in files] == sorted(EXPECTED_CARDS)
    for path in files:
        document = json.loads(path.read_text())
        dashboard = next(d for d in DASHBOARDS if d.name == path.stem)
        assert len(document["dashcards"]) == EXPECTED_CARDS[path.stem]
        parameter_ids = {p["id"] for p in document["parameters"]}
        assert {p["slug"] for p in document["parameters"]} == {f.slug for f in dashboard.filters}
        for dashcard, card in zip(document["dashcards"], dashboard.cards, strict=True):
            native = dashcard["card"]["dataset_query"]["native"]
            assert native["query"] == dashboard.sql(card).strip()
            assert set(native["template-tags"]) == set(card.filter_slugs)
            assert {m["parameter_id"] for m in dashcard["parameter_mappings"]} <= parameter_ids
            assert dashcard["card"]["display"] == card.chart.display.value
    assert str(tmp_path / "out" / "executive.json") in capsys.readouterr().out


def test_export_into_a_directory_it_cannot_write_is_one_sentence(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert main(["dashboards", "export", str(blocker / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"soleflip-bi: error: cannot write the dashboards to {blocker / 'out'}: Not a directory\n"
    )


def test_list_and_show_are_the_old_template_endpoints(capsys) -> None:
    assert main(["dashboards", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in listing] == [
        [name, str(count)] for name, count in EXPECTED_CARDS.items()
    ]
    assert main(["dashboards", "show", "inventory_management", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name"] == "Inventory Management" and len(shown["dashcards"]) == 8


def test_unknown_dashboard_is_one_clear_line(capsys) -> None:
    assert main(["dashboards", "show", "sales"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "soleflip-bi: error: unknown dashboard 'sales'; dashboards: executive, "
        "product_analytics, platform_performance, inventory_management"
    )


def test_asset_sits_downstream_of_the_views_its_cards_read() -> None:
    node = defs.resolve_asset_graph().get(METABASE_DASHBOARDS_KEY)
    assert node.group_name == "dashboards" and node.kinds == {"metabase"}
    assert node.parent_keys == {view_asset_key(card.view) for _d, card in ALL_CARDS}


def test_asset_exports_json_when_no_metabase_is_configured(
    analytics_url: str, use_database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(analytics_url)
    monkeypatch.delenv("METABASE_URL", raising=False)
    monkeypatch.setenv("SOLEFLIP_EXPORT_DIR", str(tmp_path / "metabase"))
    result = dg.materialize([metabase_dashboards], resources={"postgres": PostgresResource()})
    assert result.success
    [event] = result.asset_materializations_for_node(metabase_dashboards.op.name)
    metadata = {key: value.value for key, value in event.metadata.items()}
    assert metadata["mode"] == "exported"
    assert metadata["cards"] == 31
    assert metadata["path"] == str(tmp_path / "metabase")
    assert len(list((tmp_path / "metabase").glob("*.json"))) == 4
