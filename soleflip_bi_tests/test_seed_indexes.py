"""The indexes the seed names are part of the contract (SPEC §3): Metabase questions filter
on them. Every index of seed 001's "Materialized Views" section exists on its view, on the
seed's columns in the seed's order, over every row (no condition); the ones SPEC §3 calls
unique are unique. The lists are read from the documents' own text, so a registry that
drops or narrows one fails here: from ``contract/``, which holds those two sections word
for word, and which is compared with the documents wherever they sit beside the checkout
(``../shared``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from soleflip_bi.shared import settings
from soleflip_bi.views.registry import VIEWS_BY_NAME
from soleflip_bi_tests.support.shop import new_shop

SHARED = settings.PROJECT_ROOT.parent / "shared"
CONTRACT = Path(__file__).parent / "contract"
SEED_SECTION = "## Materialized Views"
SPEC_SECTION = "## 3."
# (document beside the checkout, its section kept in contract/)
SEED = (
    SHARED / "seeds" / "001-metabase-integration-readme.md",
    SEED_SECTION,
    CONTRACT / "seed_001_materialized_views.md",
)
SPEC = (SHARED / "SPEC.md", SPEC_SECTION, CONTRACT / "spec_3_views.md")


def section(text: str, heading: str) -> str:
    """The section under ``heading`` (a level-2 heading), up to the next one."""
    return heading + text.split(heading, 1)[1].split("\n## ", 1)[0].rstrip() + "\n"


def read(document: tuple[Path, str, Path]) -> str:
    return document[2].read_text()


@dataclass(frozen=True)
class SeedIndex:
    view: str
    name: str
    column: str
    descending: bool


def seed_indexes(text: str) -> list[SeedIndex]:
    """``- `idx_name` - On column [DESC]`` lines under each ``### N. Title (`view`)`` heading
    of the section "Materialized Views"."""
    found, view = [], None
    for line in section(text, SEED_SECTION).splitlines():
        if heading := re.match(r"### .*\(`(\w+)`\)", line):
            view = heading.group(1)
        elif entry := re.match(r"- `(idx_\w+)` - On (\w+)( DESC)?\s*$", line):
            assert view is not None, line
            found.append(SeedIndex(view, entry.group(1), entry.group(2), bool(entry.group(3))))
    return found


def spec_unique_indexes(text: str) -> set[str]:
    """The index names SPEC §3 marks ``(unique)``."""
    return set(re.findall(r"`(idx_\w+)` \(unique\)", text))


def spec_index_names(text: str) -> dict[str, set[str]]:
    """SPEC §3's index lists per view: ``Indexes `idx_a_b`, `_c`, …``, a name beginning
    with ``_`` standing for the first name's prefix plus itself."""
    names: dict[str, set[str]] = {}
    for bullet in re.split(r"\n\* ", section(text, SPEC_SECTION)):
        head = re.match(r"\*\*(\w+)\*\*", bullet)
        listed = re.search(r"Indexes ((?:`\w+`(?: \(unique\))?,?\s*)+)", bullet)
        if not head or not listed:
            continue
        first, *rest = re.findall(r"`(\w+)`", listed.group(1))
        prefix = first.rsplit("_", 1)[0]
        names["metabase_" + head.group(1)] = {
            first,
            *(prefix + name if name.startswith("_") else name for name in rest),
        }
    return names


@pytest.mark.parametrize("document", [SEED, SPEC], ids=["seed 001", "SPEC"])
def test_the_kept_sections_are_the_documents_words(document: tuple[Path, str, Path]) -> None:
    source, heading, kept = document
    if not source.exists():
        pytest.skip(f"{source} is not beside the checkout")
    assert kept.read_text() == section(source.read_text(), heading)


def test_the_documents_list_the_indexes() -> None:
    """The parsers read what the documents say (a format change must not pass silently)."""
    seed = seed_indexes(read(SEED))
    assert len(seed) == 24
    assert {index.view for index in seed} == {
        name for name in VIEWS_BY_NAME if name.startswith("metabase_") and "overview" not in name
    }
    assert SeedIndex("metabase_inventory_status", "idx_inv_status_brand", "brand_name", False) in (
        seed
    )
    spec = spec_index_names(read(SPEC))
    assert spec["metabase_inventory_status"] == {
        f"idx_inv_status_{suffix}" for suffix in ("id", "product", "brand", "category", "aging")
    }
    by_view = {}
    for index in seed:
        by_view.setdefault(index.view, set()).add(index.name)
    for view, names in spec.items():
        assert names <= by_view[view], view
    assert spec_unique_indexes(read(SPEC)) == {"idx_prod_perf_product", "idx_inv_status_id"}


@pytest.fixture(scope="module")
def built_shop() -> Iterator[str]:
    with new_shop(orders=200, seed=5) as url:
        yield url


def test_every_seed_index_exists_on_its_columns_over_every_row(built_shop: str) -> None:
    with psycopg.connect(built_shop) as conn:
        rows = conn.execute(
            """
            select t.relname, i.relname, x.indisunique, x.indpred is not null,
                   array(select a.attname::text
                         from unnest(x.indkey) with ordinality k(attnum, n)
                         join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum
                         order by k.n),
                   array(select (o & 1) = 1 from unnest(x.indoption) o)
            from pg_index x
            join pg_class i on i.oid = x.indexrelid
            join pg_class t on t.oid = x.indrelid
            where t.relnamespace = 'analytics'::regnamespace and t.relkind = 'm'
            """
        ).fetchall()
    live = {row[1]: (row[0], row[2], row[3], tuple(row[4]), tuple(row[5])) for row in rows}
    unique = spec_unique_indexes(read(SPEC))
    wrong = []
    for index in seed_indexes(read(SEED)):
        if index.name not in live:
            wrong.append(f"{index.name} is missing on {index.view}")
            continue
        view, is_unique, partial, columns, descending = live[index.name]
        if (view, columns, descending) != (index.view, (index.column,), (index.descending,)):
            wrong.append(f"{index.name} is on {view} {columns} descending {descending}")
        if partial:
            wrong.append(f"{index.name} has a condition")
        if index.name in unique and not is_unique:
            wrong.append(f"{index.name} is not unique")
    assert wrong == []
