"""What a dashboard template is made of: filters, cards, charts and their place on the grid.

The card SQL lives in ``dashboards/sql/<dashboard>/<card>.sql``; a card is that file plus
one ``Card`` entry in ``templates.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources

GRID_COLUMNS = 24  # width of Metabase's dashboard grid
TEMPLATE_TAG = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class Display(StrEnum):
    """Metabase visualization types the templates use (a donut is Metabase's ``pie``)."""

    SCALAR = "scalar"
    LINE = "line"
    BAR = "bar"
    PIE = "pie"
    MAP = "map"
    TABLE = "table"


class FilterKind(StrEnum):
    """Dashboard parameter types, also the widget types of the cards' template tags."""

    DATE = "date/all-options"
    TEXT = "string/="

    @property
    def section_id(self) -> str:
        return "date" if self is FilterKind.DATE else "string"


@dataclass(frozen=True)
class DashboardFilter:
    """A dashboard filter; ``slug`` is also the template tag name in every card it reaches."""

    slug: str
    name: str
    kind: FilterKind
    default: str | None = None  # Metabase's own syntax, e.g. "past30days"


@dataclass(frozen=True)
class Layout:
    """Position and size on Metabase's 24-column grid."""

    row: int
    col: int
    size_x: int
    size_y: int


@dataclass(frozen=True)
class Chart:
    """How a card is drawn; ``dimension`` and ``metrics`` name columns of its result."""

    display: Display
    dimension: str | None = None
    metrics: tuple[str, ...] = ()
    settings: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Card:
    """One question on a dashboard, reading exactly one analytics view.

    ``field_filters`` maps a dashboard filter to the column of ``view`` it filters (a
    Metabase field filter, ``[[and {{slug}}]]`` in the SQL); ``variables`` are dashboard
    filters the SQL uses as a plain text value instead (``{{slug}}`` compared by the SQL).
    """

    key: str
    title: str
    chart: Chart
    view: str
    layout: Layout
    description: str = ""
    field_filters: Mapping[str, str] = field(default_factory=dict)
    variables: tuple[str, ...] = ()

    @property
    def filter_slugs(self) -> tuple[str, ...]:
        return (*self.field_filters, *self.variables)


@dataclass(frozen=True)
class Dashboard:
    name: str
    title: str
    description: str
    filters: tuple[DashboardFilter, ...]
    cards: tuple[Card, ...]

    def card_key(self, card: Card) -> str:
        """The card's identity across pushes (``<dashboard>/<card>``)."""
        return f"{self.name}/{card.key}"

    def sql(self, card: Card) -> str:
        folder = resources.files("soleflip_bi.dashboards").joinpath("sql", self.name)
        return folder.joinpath(f"{card.key}.sql").read_text()

    def filter(self, slug: str) -> DashboardFilter:
        return next(f for f in self.filters if f.slug == slug)


class UnknownDashboardError(LookupError):
    """A name that is not one of the dashboard templates."""
