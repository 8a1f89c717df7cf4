"""The bodies sent to Metabase's REST API: shapes, and the ids we choose ourselves.

Parameter and template-tag ids are derived from names, so a second push sends identical
bodies; the expected ids below are literal because Metabase keeps them: a change would
break the mappings of dashboards pushed before.
"""

from __future__ import annotations

import json

from soleflip_bi.dashboards.payload import (
    card_payload,
    dashboard_parameters,
    dashboard_payload,
    dashcard_payload,
    managed_description,
    parameter_id,
    template_tags,
    visualization_settings,
)
from soleflip_bi.dashboards.templates import DASHBOARDS
from soleflip_bi.metabase.managed import managed_key
from soleflip_bi_tests.support.inline_dashboard import (
    BY_BRAND,
    BY_BRAND_SQL,
    REVENUE,
    REVENUE_SQL,
    SHOP,
)

MARKER = (
    "Managed by soleflip-bi (`{key}`): changes made in Metabase are replaced "
    "by the next `soleflip-bi dashboards push`."
)


def field_ref(view: str, column: str) -> str:
    return f"{view}.{column}"


def test_parameter_ids_are_stable_hashes_of_dashboard_and_slug() -> None:
    executive, platform = (
        next(d for d in DASHBOARDS if d.name == name)
        for name in ("executive", "platform_performance")
    )
    assert parameter_id(executive, "date_range") == "89e9c5a5"
    assert parameter_id(platform, "date_range") == "f3ff5d95"  # per dashboard
    assert parameter_id(platform, "platform") == "3bdf0cbc"


def test_dashboard_payload_has_its_parameters_and_the_marker() -> None:
    shop_ids = {slug: parameter_id(SHOP, slug) for slug in ("date_range", "platform", "brand")}
    assert len(set(shop_ids.values())) == 3
    assert dashboard_payload(SHOP, collection_id=4) == {
        "name": "Shop",
        "description": "The shop at a glance.\n\n" + MARKER.format(key="shop"),
        "parameters": [
            {
                "id": shop_ids["date_range"],
                "name": "Date Range",
                "slug": "date_range",
                "type": "date/all-options",
                "sectionId": "date",
                "default": "past30days",
            },
            {
                "id": shop_ids["platform"],
                "name": "Platform",
                "slug": "platform",
                "type": "string/=",
                "sectionId": "string",
            },
            {
                "id": shop_ids["brand"],
                "name": "Brand",
                "slug": "brand",
                "type": "string/=",
                "sectionId": "string",
            },
        ],
        "collection_id": 4,
    }


def test_card_payload_is_a_native_query_with_dimension_tags() -> None:
    payload = card_payload(SHOP, REVENUE, database_id=7, collection_id=3, field_ref=field_ref)
    tags = payload["dataset_query"]["native"].pop("template-tags")
    assert payload == {
        "name": "Revenue",
        "description": "Revenue in the range.\n\n" + MARKER.format(key="shop/revenue"),
        "display": "scalar",
        "visualization_settings": {"scalar.field": "revenue"},
        "dataset_query": {
            "type": "native",
            "database": 7,
            "native": {"query": REVENUE_SQL.strip()},
        },
        "collection_id": 3,
    }
    assert list(tags) == ["date_range", "platform"]
    assert tags["date_range"] == {
        "id": tags["date_range"]["id"],
        "name": "date_range",
        "display-name": "Date Range",
        "type": "dimension",
        "dimension": ["field", "metabase_executive_metrics.sale_date", None],
        "widget-type": "date/all-options",
    }
    assert tags["platform"]["dimension"] == [
        "field",
        "metabase_executive_metrics.platform_name",
        None,
    ]
    assert tags["platform"]["widget-type"] == "string/="


def test_a_variable_is_a_text_tag_without_a_field() -> None:
    [(slug, tag)] = template_tags(SHOP, BY_BRAND, field_ref).items()
    assert slug == "brand"
    assert tag == {"id": tag["id"], "name": "brand", "display-name": "Brand", "type": "text"}
    payload = card_payload(SHOP, BY_BRAND, database_id=1, collection_id=None, field_ref=field_ref)
    assert payload["description"] == MARKER.format(key="shop/by_brand")  # no text of its own
    assert payload["dataset_query"]["native"]["query"] == BY_BRAND_SQL.strip()
    assert payload["visualization_settings"] == {
        "graph.dimensions": ["brand_name"],
        "graph.metrics": ["revenue", "profit"],
    }


def test_template_tag_ids_are_uuid5_of_card_and_slug() -> None:
    executive = next(d for d in DASHBOARDS if d.name == "executive")
    card = next(c for c in executive.cards if c.key == "total_revenue")
    tags = template_tags(executive, card, lambda view, column: 42)
    assert tags["date_range"]["id"] == "be497e6e-9e11-59b4-98f8-55162524be4d"
    assert tags["date_range"]["dimension"] == ["field", 42, None]
    platform = next(d for d in DASHBOARDS if d.name == "platform_performance")
    served = next(c for c in platform.cards if c.key == "countries_served")
    assert template_tags(platform, served, field_ref)["platform"] == {
        "id": "ece25856-85fc-5b29-83bc-73d4e519e42e",
        "name": "platform",
        "display-name": "Platform",
        "type": "text",
    }


def test_tag_ids_differ_per_card_and_slug() -> None:
    ids = [
        tag["id"]
        for dashboard in DASHBOARDS
        for card in dashboard.cards
        for tag in template_tags(dashboard, card, field_ref).values()
    ]
    assert len(ids) == len(set(ids)) > 30


def test_dashcard_maps_dimensions_and_variables_to_the_dashboard_parameters() -> None:
    assert dashcard_payload(SHOP, REVENUE, card_id=11, dashcard_id=-1) == {
        "id": -1,
        "card_id": 11,
        "row": 0,
        "col": 6,
        "size_x": 6,
        "size_y": 3,
        "parameter_mappings": [
            {
                "parameter_id": parameter_id(SHOP, "date_range"),
                "card_id": 11,
                "target": ["dimension", ["template-tag", "date_range"]],
            },
            {
                "parameter_id": parameter_id(SHOP, "platform"),
                "card_id": 11,
                "target": ["dimension", ["template-tag", "platform"]],
            },
        ],
        "visualization_settings": {},
        "series": [],
    }
    [mapping] = dashcard_payload(SHOP, BY_BRAND, card_id=12, dashcard_id=5)["parameter_mappings"]
    assert mapping == {
        "parameter_id": parameter_id(SHOP, "brand"),
        "card_id": 12,
        "target": ["variable", ["template-tag", "brand"]],
    }


def test_every_mapping_points_at_a_parameter_of_its_dashboard() -> None:
    for dashboard in DASHBOARDS:
        parameters = {p["id"] for p in dashboard_parameters(dashboard)}
        for card in dashboard.cards:
            mappings = dashcard_payload(dashboard, card, card_id=1, dashcard_id=-1)
            assert {m["parameter_id"] for m in mappings["parameter_mappings"]} <= parameters


def test_a_second_build_is_byte_identical() -> None:
    def everything() -> str:
        bodies = []
        for dashboard in DASHBOARDS:
            bodies.append(dashboard_payload(dashboard, 3))
            for number, card in enumerate(dashboard.cards, start=1):
                bodies.append(
                    card_payload(
                        dashboard, card, database_id=2, collection_id=3, field_ref=field_ref
                    )
                )
                bodies.append(dashcard_payload(dashboard, card, card_id=number, dashcard_id=-1))
        return json.dumps(bodies, sort_keys=True)

    assert everything() == everything()


def test_the_marker_round_trips_and_unmanaged_text_has_none() -> None:
    assert managed_key(managed_description("Some text.", "executive/total_revenue")) == (
        "executive/total_revenue"
    )
    assert managed_description("", "shop") == MARKER.format(key="shop")
    assert managed_key("someone's own question") is None
    assert managed_key(None) is None


def test_chart_settings_per_display() -> None:
    by_key = {(d.name, c.key): c.chart for d in DASHBOARDS for c in d.cards}
    assert visualization_settings(by_key[("platform_performance", "countries_served")]) == {
        "map.type": "region",
        "map.region": "world_countries",
        "map.dimension": "country_code",
        "map.metric": "platforms",
    }
    assert visualization_settings(by_key[("executive", "total_revenue")]) == {
        "scalar.field": "total_revenue"
    }
