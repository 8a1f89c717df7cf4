"""Which stored columns each view column is computed from, read from the SQL with sqlglot
(PostgreSQL dialect): the view's query, then the rollups it reads (``cleaned/rollups``),
then the stock items with their sales (``cleaned/sql/05_stock_with_sales.sql``), down to
the stored facts (``analytics.order_facts``, ``analytics.stock_facts``) and the source
tables a view reads directly (``catalog.brand``).

A column counts when it appears in the expression of the output column, through every
CTE, subquery and star; columns only in a WHERE, JOIN or GROUP BY shape the rows, not the
value, and are left out. ``count(*)`` reads the rows: the key of the relation counted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope

from soleflip_bi.cleaned.rollups import ROLLUPS
from soleflip_bi.shared.columns import load_columns
from soleflip_bi.shared.schemas import ANALYTICS_SCHEMA
from soleflip_bi.views.lineage import FACT_TABLES
from soleflip_bi.views.registry import ViewSpec

Col = tuple[str, str, str]  # schema, table, column

STOCK_WITH_SALES = "stock_with_sales"
ORDER_FACTS, STOCK_FACTS = FACT_TABLES
# What a row of each stored relation is (what ``count(*)`` counts).
ROW_KEYS = {ORDER_FACTS: "order_id", STOCK_FACTS: "inventory_id", STOCK_WITH_SALES: "inventory_id"}
ROW_KEYS["stock_aging"] = "inventory_id"
ROLLUP_KEYS = {rollup.name: rollup.key for rollup in ROLLUPS}
# Settings the views compare with, no data's lineage (cleaned/sql/01_reference_data.sql).
REFERENCE_TABLES = {"classification_threshold": ("name", "value", "description")}
# The cleaned layer's views, parsed from their files; a stored copy reads as its view.
VIEW_FILES = ("05_stock_with_sales.sql", "06_stock_aging.sql")
STORED_COPIES = {"stock_with_sales_live": STOCK_WITH_SALES}


class LineageError(ValueError):
    """A view column whose inputs the SQL does not make clear."""


@cache
def _stored_queries() -> dict[str, str]:
    """Each stored relation between the facts and the views, with the query it holds, its
    base read by its rollup alias (``facts``, ``stock``) as the table it is."""
    queries: dict[str, str] = {}
    for rollup in ROLLUPS:
        text = re.sub(
            rf"\b(from|join)\s+{rollup.base.alias}\b",
            rf"\1 {ANALYTICS_SCHEMA}.{rollup.base.table} {rollup.base.alias}",
            rollup.query,
            flags=re.I,
        )  # the rollup's own placeholder for its base: not SQL yet
        queries[rollup.name] = text
    folder = resources.files("soleflip_bi.cleaned").joinpath("sql")
    for name in VIEW_FILES:
        for statement in sqlglot.parse(folder.joinpath(name).read_text(), read="postgres"):
            if isinstance(statement, exp.Create) and statement.kind == "VIEW":
                view = statement.this.name if isinstance(statement.this, exp.Table) else None
                view = STORED_COPIES.get(view, view)
                if view and isinstance(statement.expression, exp.Query):
                    queries[view] = statement.expression.sql(dialect="postgres")
    if STOCK_WITH_SALES not in queries:
        raise LineageError(f"{VIEW_FILES[0]} no longer defines stock_with_sales_live")
    return queries


@cache
def _schema() -> dict[str, dict[str, dict[str, str]]]:
    """Column names of every stored relation (types do not matter here)."""
    tables: dict[str, dict[str, str]] = {
        name: {c.name: c.type for c in load_columns("soleflip_bi.cleaned", f"sql/{name}")}
        for name in FACT_TABLES
    }
    tables.update({name: dict.fromkeys(cols, "text") for name, cols in REFERENCE_TABLES.items()})
    pending = dict(_stored_queries())
    while pending:  # a relation's columns once the ones it reads are known
        for name, query in list(pending.items()):
            tree = sqlglot.parse_one(query, read="postgres")
            reads = {t.name for t in tree.find_all(exp.Table) if t.db == ANALYTICS_SCHEMA}
            if (reads & set(pending)) - {name}:
                continue
            tree = qualify(
                tree,
                schema={ANALYTICS_SCHEMA: tables},
                dialect="postgres",
                validate_qualify_columns=False,
            )
            tables[name] = {p.alias_or_name: "text" for p in tree.selects}
            del pending[name]
    return {ANALYTICS_SCHEMA: tables}


def _parsed(query: str) -> tuple[exp.Query, dict[int, Scope]]:
    tree = qualify(
        sqlglot.parse_one(query, read="postgres"),
        schema=_schema(),
        dialect="postgres",
        validate_qualify_columns=False,
    )
    root = build_scope(tree)
    scopes = {id(s.expression): s for s in root.traverse()} if root else {}
    return tree, scopes


def _leaves(scope: Scope, scopes: dict[int, Scope], node: exp.Expression) -> set[Col]:
    found: set[Col] = set()
    for column in node.find_all(exp.Column):
        owner = scopes.get(id(column.find_ancestor(exp.Select)), scope)
        source = owner.sources.get(column.table)
        if isinstance(source, exp.Table):
            found |= _table_column(source, column.name)
        elif isinstance(source, Scope):
            found |= _projection(source, scopes, column.name)
    for star in node.find_all(exp.Count):
        if isinstance(star.this, exp.Star):
            owner = scopes.get(id(star.find_ancestor(exp.Select)), scope)
            found |= _rows_of(owner, scopes)
    return found


def _rows_of(scope: Scope, scopes: dict[int, Scope]) -> set[Col]:
    """What a row of a CTE or subquery is: the rows of the relations it reads."""
    found: set[Col] = set()
    for source in scope.sources.values():
        if isinstance(source, exp.Table) and source.name in ROW_KEYS:
            found |= _table_column(source, ROW_KEYS[source.name])
        elif isinstance(source, exp.Table) and source.name in ROLLUP_KEYS:
            for key in ROLLUP_KEYS[source.name]:  # a rollup's row is a cell: its key
                found |= _table_column(source, key)
        elif isinstance(source, Scope):
            found |= _rows_of(source, scopes)
    return found


def _projection(scope: Scope, scopes: dict[int, Scope], name: str) -> set[Col]:
    if scope.is_set_operation:  # UNION: the column of that name in every branch
        return set().union(*(_projection(s, scopes, name) for s in scope.set_operation_scopes))
    for projection in scope.expression.selects:
        if projection.alias_or_name == name:
            return _leaves(scope, scopes, projection)
    return set()


def _table_column(table: exp.Table, column: str) -> set[Col]:
    """A column of a stored table, followed down to the facts (or a source table)."""
    if table.db == ANALYTICS_SCHEMA and table.name in _stored_queries():
        return relation_inputs(table.name).get(column, set())
    if table.db == ANALYTICS_SCHEMA and table.name in REFERENCE_TABLES:
        return set()
    return {(table.db, table.name, column)}


@cache
def relation_inputs(name: str) -> dict[str, set[Col]]:
    """Each output column of a stored relation, with the fact and source columns it is
    computed from."""
    return query_inputs(_stored_queries()[name])


def query_inputs(query: str) -> dict[str, set[Col]]:
    tree, scopes = _parsed(query)
    root = scopes[id(tree)] if id(tree) in scopes else build_scope(tree)
    return {p.alias_or_name: _leaves(root, scopes, p) for p in tree.selects}


@cache
def view_inputs(spec: ViewSpec) -> Mapping[str, frozenset[Col]]:
    """Each column of ``spec``'s view, with the fact and source columns it is computed
    from (``analytics.order_facts.revenue``, ``catalog.brand.name``)."""
    found = query_inputs(spec.sql.strip().rstrip(";"))
    return {column: frozenset(inputs) for column, inputs in found.items()}


def derived_lineage(specs: tuple[ViewSpec, ...]) -> dict[str, dict[str, list[list[str]]]]:
    """Every view's column inputs as ``views/lineage.json`` holds them (sorted, JSON)."""
    return {
        spec.name: {
            column: sorted(list(col) for col in inputs)
            for column, inputs in view_inputs(spec).items()
        }
        for spec in specs
    }
