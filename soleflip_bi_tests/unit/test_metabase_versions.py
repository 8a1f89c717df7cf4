"""Reading the Metabase version, and comparing queries whatever shape a version returns."""

from __future__ import annotations

import re

import pytest

from soleflip_bi.dashboards.diff import comparable_card, differences
from soleflip_bi.metabase.versions import MetabaseVersion, UnsupportedMetabase


@pytest.mark.parametrize(
    ("tag", "release"),
    [
        ("v0.50.3", 50),
        ("v1.57.0", 57),  # an enterprise build of 0.57
        ("v0.58.5.2", 58),  # a hotfix
        ("v0.47.0-RC1", 47),  # a release candidate
        ("vLOCAL_DEV", None),
        (None, None),
    ],
)
def test_the_release_is_the_second_number_of_the_tag(tag: str | None, release: int | None):
    properties = {"version": {"tag": tag, "hash": "abc"}} if tag else {"site-name": "x"}
    assert MetabaseVersion.from_properties(properties).release == release


@pytest.mark.parametrize(
    ("tag", "api_key", "refused"),
    [
        ("v0.47.2.1", False, "is older than 0.48"),
        ("v0.47.0-RC1", False, "is older than 0.48"),
        ("v0.48.9", True, "has no API keys (they arrived in 0.49)"),
        ("v0.48.9", False, None),
        ("v0.49.0", True, None),
        ("v1.57.3", True, None),
    ],
)
def test_versions_refused(tag: str, api_key: bool, refused: str | None) -> None:
    version = MetabaseVersion.from_properties({"version": {"tag": tag}})
    if refused is None:
        version.check("http://mb", api_key=api_key)
        return
    with pytest.raises(UnsupportedMetabase, match=re.escape(refused)):
        version.check("http://mb", api_key=api_key)


def test_an_mbql5_card_equals_the_legacy_card_it_was_saved_from() -> None:
    legacy = {
        "name": "Revenue",
        "dataset_query": {
            "type": "native",
            "database": 3,
            "native": {
                "query": "select 1 where {{brand}}",
                "template-tags": {
                    "brand": {"id": "t1", "name": "brand", "type": "dimension",
                              "dimension": ["field", 42, None], "widget-type": "string/="},
                },
            },
        },
    }  # fmt: skip
    returned = {
        "id": 7,
        "name": "Revenue",
        "dataset_query": {
            "lib/type": "mbql/query",
            "database": 3,
            "stages": [{
                "lib/type": "mbql.stage/native",
                "native": "select 1 where {{brand}}",
                "template-tags": {
                    "brand": {"id": "t1", "name": "brand", "type": "dimension",
                              "dimension": ["field", {"lib/uuid": "u", "base-type": "type/Text"},
                                            42], "widget-type": "string/="},
                },
            }],
        },
    }  # fmt: skip
    assert differences(comparable_card(returned), comparable_card(legacy)) == []
    moved = returned["dataset_query"]["stages"][0]["template-tags"]["brand"]
    moved["dimension"] = ["field", {"lib/uuid": "u"}, 43]
    assert differences(comparable_card(returned), comparable_card(legacy)) == [
        "dataset_query.native.template-tags.brand.dimension"
    ]
