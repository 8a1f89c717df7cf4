"""Which refresh a view gets, from its registered spec and what the database holds."""

from __future__ import annotations

import dataclasses

import pytest

from soleflip_bi.views.materialize import RefreshMode, ViewState, choose_mode
from soleflip_bi.views.registry import VIEWS, get_view

CONCURRENT_VIEW = get_view("metabase_executive_metrics")
SWAP_VIEW = next(spec for spec in VIEWS if spec.swap_refresh)


def current_state(spec, **changes) -> ViewState:
    """The state of a view built from ``spec`` as it is now, populated, all indexes there."""
    state = ViewState(
        exists=True,
        populated=True,
        definition_hash=spec.definition_hash,
        indexes=tuple(sorted(index.name for index in spec.indexes)),
    )
    return dataclasses.replace(state, **changes)


def test_the_registry_has_both_kinds_of_refresh() -> None:
    assert not CONCURRENT_VIEW.swap_refresh
    assert SWAP_VIEW.name == "metabase_inventory_status"


@pytest.mark.parametrize("spec", [CONCURRENT_VIEW, SWAP_VIEW], ids=lambda s: s.name)
def test_a_missing_view_is_created(spec) -> None:
    assert choose_mode(spec, ViewState(exists=False)) is RefreshMode.CREATE
    # whatever else the state says: a view that does not exist cannot be refreshed
    assert choose_mode(spec, current_state(spec, exists=False)) is RefreshMode.CREATE


def test_an_up_to_date_populated_view_refreshes_concurrently() -> None:
    assert choose_mode(CONCURRENT_VIEW, current_state(CONCURRENT_VIEW)) is RefreshMode.CONCURRENT


def test_a_swap_view_is_rebuilt_beside_the_old_one() -> None:
    assert choose_mode(SWAP_VIEW, current_state(SWAP_VIEW)) is RefreshMode.SWAP


@pytest.mark.parametrize("spec", [CONCURRENT_VIEW, SWAP_VIEW], ids=lambda s: s.name)
def test_a_changed_definition_is_rebuilt(spec) -> None:
    stale = current_state(spec, definition_hash="0123456789abcdef")
    assert choose_mode(spec, stale) is RefreshMode.REBUILD
    unmarked = current_state(spec, definition_hash=None)  # the comment was lost
    assert choose_mode(spec, unmarked) is RefreshMode.REBUILD


def test_a_missing_index_is_rebuilt_and_an_extra_one_is_not() -> None:
    spec = CONCURRENT_VIEW
    names = tuple(sorted(index.name for index in spec.indexes))
    assert len(names) >= 2
    assert choose_mode(spec, current_state(spec, indexes=names[1:])) is RefreshMode.REBUILD
    extra = current_state(spec, indexes=(*names, "someone_elses_index"))
    assert choose_mode(spec, extra) is RefreshMode.CONCURRENT


def test_an_unpopulated_view_gets_a_plain_refresh() -> None:
    # REFRESH CONCURRENTLY refuses a view that was never populated
    for spec in (CONCURRENT_VIEW, SWAP_VIEW):
        assert choose_mode(spec, current_state(spec, populated=False)) is RefreshMode.PLAIN


def test_a_changed_definition_wins_over_an_unpopulated_view() -> None:
    state = current_state(CONCURRENT_VIEW, populated=False, definition_hash="old")
    assert choose_mode(CONCURRENT_VIEW, state) is RefreshMode.REBUILD


def test_the_definition_hash_follows_the_indexes() -> None:
    spec = CONCURRENT_VIEW
    renamed = dataclasses.replace(
        spec, indexes=(dataclasses.replace(spec.indexes[0], name="renamed"), *spec.indexes[1:])
    )
    assert len(spec.definition_hash) == 16
    assert renamed.definition_hash != spec.definition_hash
    assert choose_mode(renamed, current_state(spec)) is RefreshMode.REBUILD
