"""The code location loads, and its asset graph is what the UI should show."""

from __future__ import annotations

import dagster as dg

from soleflip_bi.definitions import defs


def test_definitions_load_without_any_secret_set(monkeypatch) -> None:
    monkeypatch.delenv("SOLEFLIP_DATABASE_URL", raising=False)
    repository = defs.get_repository_def()
    assert repository.get_all_jobs() is not None


def test_source_tables_are_external_assets() -> None:
    graph = defs.resolve_asset_graph()
    for key in (["sales", "order"], ["inventory", "stock"], ["catalog", "product"]):
        node = graph.get(dg.AssetKey(key))
        assert not node.is_materializable, key
        assert node.group_name == "sources"
