"""Which view columns a native Metabase question reads, by parsing its SQL with sqlglot
(PostgreSQL dialect), never by pattern matching on the SQL.

Metabase's own syntax is replaced first, as Metabase itself does before it sends the
query (``metabase.driver.common.parameters.parse``): ``[[ ... ]]`` optional clauses are
kept with their brackets removed (a clause may be present at any time), a field filter
``{{tag}}`` becomes ``TRUE`` (its column is the tag's field, given separately), any other
variable ``NULL``, and a reference to another question ``{{#12-name}}`` a table that stands
for it. A snippet ``{{snippet: name}}`` holds SQL this module cannot see: such a question
is reported as unreadable, never guessed at.

Column references are resolved with sqlglot's qualifier against the views' columns, so
``select *``, aliases, CTEs and subqueries all lead back to the view column they read; a
column a subquery selects but nothing above it uses is not counted as read.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA

# Metabase's template syntax: {{name}}, {{#12-slug}}, {{snippet: name}}; [[ ... ]].
_TAG = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.S)
_OPTIONAL = re.compile(r"\[\[|\]\]")
_CARD_TAG = re.compile(r"#(\d+)(?:-.*)?$", re.S)
CARD_TABLE_PREFIX = "metabase_card_"

Columns = Mapping[str, Mapping[str, str]]  # view -> column -> PostgreSQL type


class UnreadableSql(ValueError):
    """A native question's SQL that cannot be read with certainty."""


@dataclass(frozen=True)
class NativeReads:
    columns: dict[str, frozenset[str]]  # view -> the columns the SQL reads
    cards: frozenset[int]  # questions the SQL reads as tables ({{#12}})


def _substituted(text: str, field_tags: set[str]) -> tuple[str, set[int]]:
    cards: set[int] = set()

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("snippet:"):
            raise UnreadableSql(f"it uses the snippet {name.split(':', 1)[1].strip()!r}")
        card = _CARD_TAG.match(name)
        if card:
            cards.add(int(card.group(1)))
            return f"{CARD_TABLE_PREFIX}{card.group(1)}"
        return "TRUE" if name in field_tags else "NULL"

    return _TAG.sub(replace, _OPTIONAL.sub(" ", text)), cards


def columns_read(text: str, field_tags: set[str], views: Columns) -> NativeReads:
    """The columns of ``views`` (in schema analytics) that ``text`` reads. A table named
    without a schema is taken as the view of that name (Metabase's connection is limited
    to the analytics schema). Raise ``UnreadableSql`` with the reason in a few words."""
    # sqlglot is imported when SQL is read, not with this module: it costs about 0.4 s,
    # and every run process imports this module while only a native question needs it.
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import OptimizeError, ParseError, SqlglotError
    from sqlglot.optimizer.pushdown_projections import pushdown_projections
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import traverse_scope

    sql_text, cards = _substituted(text, field_tags)
    try:
        statements = [s for s in sqlglot.parse(sql_text, read="postgres") if s is not None]
    except ParseError as error:
        where = (error.errors or [{}])[0]
        at = f" at line {where['line']}, column {where['col']}" if where.get("line") else ""
        raise UnreadableSql(f"its SQL does not parse as PostgreSQL{at}") from error
    except SqlglotError as error:
        raise UnreadableSql("its SQL does not parse as PostgreSQL") from error
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise UnreadableSql("its SQL is not one SELECT statement")
    tree = statements[0]
    for table in tree.find_all(exp.Table):
        if not table.args.get("db") and table.name in views:
            table.set("db", exp.to_identifier(ANALYTICS_SCHEMA))
    schema = {ANALYTICS_SCHEMA: {view: dict(cols) for view, cols in views.items()}}
    try:
        tree = qualify(
            tree,
            schema=schema,
            dialect="postgres",
            validate_qualify_columns=False,
            quote_identifiers=False,
        )
    except SqlglotError as error:
        raise UnreadableSql(f"its columns cannot be resolved ({str(error)[:120]})") from error
    with contextlib.suppress(OptimizeError):  # a star it cannot expand: all are read
        tree = pushdown_projections(tree)  # a subquery's column nobody uses is not read
    found: dict[str, set[str]] = {}
    for scope in traverse_scope(tree):
        star = isinstance(scope.expression, exp.Select) and any(
            isinstance(e, exp.Star) or (isinstance(e, exp.Column) and e.is_star)
            for e in scope.expression.expressions
        )  # left unexpanded beside a question's table: every column of each view
        for table in scope.tables:
            if table.db == ANALYTICS_SCHEMA and table.name in views:
                found.setdefault(table.name, set()).update(views[table.name] if star else ())
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if (
                isinstance(source, exp.Table)
                and source.db == ANALYTICS_SCHEMA
                and source.name in views
            ):
                found.setdefault(source.name, set()).add(column.name)
    return NativeReads({view: frozenset(cols) for view, cols in found.items()}, frozenset(cards))
