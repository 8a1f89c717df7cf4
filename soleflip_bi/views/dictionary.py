"""docs/DATA_DICTIONARY.md, made from the column descriptions beside each view's SQL.

``soleflip-bi views dictionary`` prints it; ``test_column_descriptions.py`` fails when the
committed file differs from what the descriptions make.
"""

from __future__ import annotations

from soleflip_bi.cleaned.layer import DOCUMENTED_TABLES, documented_columns
from soleflip_bi.shared.columns import Column
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA
from soleflip_bi.views.registry import VIEWS

INTRODUCTION = """\
# Data dictionary

Every column of every view in the schema `analytics` that the dashboards read, and of the
stored facts the views are made from. Sales are in EUR, the reporting currency; purchase
prices are as the stock records them; sale dates are in the shop's time zone
(`SOLEFLIP_TIMEZONE`). The same text is each column's comment in
PostgreSQL and its description in the Dagster UI. It is written once, in
`soleflip_bi/views/sql/<view>.columns.toml` and `soleflip_bi/cleaned/sql/<table>.columns.toml`;
this file is made from those (`soleflip-bi views dictionary > docs/DATA_DICTIONARY.md`).
"""


def _table(columns: tuple[Column, ...]) -> list[str]:
    lines = ["| column | type | meaning |", "|---|---|---|"]
    for column in columns:
        meaning = column.description.replace("|", "\\|")
        lines.append(f"| `{column.name}` | {column.type} | {meaning} |")
    return lines


def render_dictionary() -> str:
    """The whole dictionary as Markdown."""
    sections = [INTRODUCTION]
    for spec in VIEWS:
        sections += [
            f"## `{ANALYTICS_SCHEMA}.{spec.name}`",
            "",
            f"{spec.description} One row per {', '.join(spec.grain)}; refreshed {spec.tier.value}.",
            "",
            *_table(spec.columns),
            "",
        ]
    for table in DOCUMENTED_TABLES:
        sections += [
            f"## `{ANALYTICS_SCHEMA}.{table}` (stored facts)",
            "",
            *_table(documented_columns(table)),
            "",
        ]
    return "\n".join(sections)
