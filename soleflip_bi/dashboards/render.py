"""Card SQL with its template tags substituted the way Metabase does, for PostgreSQL.

Used to run every card against the real views (before a push, and in the tests), so a
renamed view column breaks the build here rather than a dashboard in front of a user.

* ``[[ ... ]]`` is kept only when every tag inside it has a value, else removed;
* a field filter becomes a condition on ``"analytics"."<view>"."<column>"`` (which is why
  card SQL never aliases the view it filters), or ``1 = 1`` when it has no value;
* a text variable becomes a quoted literal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date

import psycopg
from psycopg import sql

from soleflip_bi.dashboards.model import TEMPLATE_TAG, Card, Dashboard, FilterKind
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA

OPTIONAL_CLAUSE = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)
PAST_PERIODS = re.compile(r"^past(\d+)(day|week|month|year)s$")
CURRENT_PERIOD = re.compile(r"^this(day|week|month|year)$")

FilterValue = str | Sequence[str]


class MissingFilterValue(ValueError):
    """A template tag outside ``[[ ]]`` that Metabase would refuse to run without."""


def render_card(
    dashboard: Dashboard, card: Card, values: Mapping[str, FilterValue] | None = None
) -> sql.Composed:
    """The statement Metabase would send for ``card`` with the filter ``values`` set."""
    values = {slug: v for slug, v in (values or {}).items() if v not in ("", [], ())}
    text = OPTIONAL_CLAUSE.sub(
        lambda m: m.group(1) if all(t in values for t in TEMPLATE_TAG.findall(m.group(1))) else "",
        dashboard.sql(card),
    )
    parts: list[sql.Composable] = []
    position = 0
    for match in TEMPLATE_TAG.finditer(text):
        parts.append(sql.SQL(text[position : match.start()]))
        parts.append(_substitute(dashboard, card, match.group(1), values.get(match.group(1))))
        position = match.end()
    parts.append(sql.SQL(text[position:].rstrip().rstrip(";")))
    return sql.Composed(parts)


def _substitute(
    dashboard: Dashboard, card: Card, slug: str, value: FilterValue | None
) -> sql.Composable:
    if slug in card.variables:
        if value is None:
            raise MissingFilterValue(f"{dashboard.card_key(card)}: {{{{{slug}}}}} needs a value")
        return sql.Literal(value if isinstance(value, str) else value[0])
    if value is None:
        return sql.SQL("1 = 1")
    column = sql.Identifier(ANALYTICS_SCHEMA, card.view, card.field_filters[slug])
    if dashboard.filter(slug).kind is FilterKind.DATE:
        return _date_condition(column, value if isinstance(value, str) else value[0])
    values = [value] if isinstance(value, str) else list(value)
    return sql.SQL("{} in ({})").format(column, sql.SQL(", ").join(map(sql.Literal, values)))


def _date_condition(column: sql.Identifier, value: str) -> sql.Composed:
    """A Metabase date value: ``past30days``, ``thismonth``, ``A~B``, ``A~``, ``~B`` or ``A``."""
    if match := PAST_PERIODS.match(value):
        amount, unit = match.groups()
        # Metabase's "past N days" ends before the current day (week, month, ...) begins.
        end = sql.SQL("date_trunc({}, current_date)").format(sql.Literal(unit))
        start = sql.SQL("{} - {}::interval").format(end, sql.Literal(f"{amount} {unit}"))
        return sql.SQL("({col} >= {start} and {col} < {end})").format(
            col=column, start=start, end=end
        )
    if match := CURRENT_PERIOD.match(value):
        unit = sql.Literal(match.group(1))
        return sql.SQL(
            "date_trunc({unit}, {col}::timestamp) = date_trunc({unit}, current_date::timestamp)"
        ).format(unit=unit, col=column)
    start_text, separator, end_text = value.partition("~")
    if not separator:
        end_text = start_text
    conditions = []
    if start_text:
        conditions.append(
            sql.SQL("{} >= {}").format(column, sql.Literal(date.fromisoformat(start_text)))
        )
    if end_text:
        conditions.append(
            sql.SQL("{} <= {}").format(column, sql.Literal(date.fromisoformat(end_text)))
        )
    return sql.SQL("({})").format(sql.SQL(" and ").join(conditions))


class CardSqlError(RuntimeError):
    """A card's SQL does not run against the views (a view or column changed)."""


def check_cards(conn: psycopg.Connection, dashboards: Sequence[Dashboard]) -> int:
    """Plan every card with no filter set, so a broken card fails here; return the count."""
    checked = 0
    for dashboard in dashboards:
        for card in dashboard.cards:
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("explain ") + render_card(dashboard, card))
            except psycopg.Error as exc:
                message = str(exc).strip().splitlines()[0]
                raise CardSqlError(f"card {dashboard.card_key(card)}: {message}") from exc
            checked += 1
    return checked
