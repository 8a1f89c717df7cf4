"""The one description of every view; assets, checks, jobs, sensors and dashboards read it.

Adding a view is one SQL file in ``views/sql/``, the description of its columns beside it
(``<name>.columns.toml``), plus one ``ViewSpec`` below.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

from soleflip_bi.shared.catalogue import Source
from soleflip_bi.shared.columns import Column, load_columns
from soleflip_bi.shared.tags import FULL_RECOUNT_TIER


class Tier(StrEnum):
    """How often a view is refreshed on schedule (schedules: ``automation/schedules.py``)."""

    HOURLY = "hourly"
    DAILY = FULL_RECOUNT_TIER  # its runs also recount the sales from scratch
    WEEKLY = "weekly"


class CleanedView(StrEnum):
    """The cleaned-layer views a gold view reads (for lineage)."""

    ORDER_FACTS = "order_facts"
    STOCK_FACTS = "stock_facts"


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    descending: bool = False
    unique: bool = False
    # A partial index: only the rows the cards using it read (an SQL condition).
    where: str | None = None


@dataclass(frozen=True)
class ViewSpec:
    name: str
    description: str
    grain: tuple[str, ...]
    tier: Tier
    refreshed_on: frozenset[Source]
    reads: frozenset[CleanedView]
    indexes: tuple[Index, ...]
    revenue_column: str | None = "total_revenue"
    # The count of sales beside the revenue, compared with the recount from the sources.
    orders_column: str | None = "total_orders"
    # Columns holding percentages of a whole: each within 0..100, together summing to 100.
    share_columns: tuple[str, ...] = ()
    # Refresh by building a new copy and swapping it in (readers wait only for the rename)
    # instead of REFRESH CONCURRENTLY, whose row-by-row diff costs about three times a
    # build for a view of a million rows that mostly changes daily (days_in_stock).
    swap_refresh: bool = False

    @property
    def watches(self) -> frozenset[Source]:
        """The change streams that refresh the view: ``refreshed_on``, and the exchange
        rates for every view that reads the order facts. Their amounts are euros at the
        rate of each sale's day, so a rate change reaches all of them in one run, and the
        views' revenue totals never disagree over a rate (SPEC §3)."""
        rates = {Source.RATES} if CleanedView.ORDER_FACTS in self.reads else set()
        return self.refreshed_on | rates

    @property
    def sql(self) -> str:
        return resources.files("soleflip_bi.views").joinpath("sql", f"{self.name}.sql").read_text()

    @property
    def columns(self) -> tuple[Column, ...]:
        """Each column's type and meaning (``views/sql/<name>.columns.toml``)."""
        return load_columns("soleflip_bi.views", f"sql/{self.name}")

    @property
    def unique_index(self) -> Index:
        return next(index for index in self.indexes if index.unique)

    @property
    def definition_hash(self) -> str:
        """Hash of the SQL and the indexes: the asset's code version, and what a build
        records (``views/definitions.py``). Descriptions are left out: the next refresh
        sets a changed one in place, and nothing is rebuilt for it."""
        digest = hashlib.sha256(self.sql.encode())
        for index in self.indexes:
            digest.update(repr(index).encode())
        return digest.hexdigest()[:16]


def _grain_index(name: str, grain: tuple[str, ...]) -> Index:
    return Index(name, grain, unique=True)


ORDERS, INVENTORY = Source.ORDERS, Source.INVENTORY
ORDER_FACTS, STOCK_FACTS = CleanedView.ORDER_FACTS, CleanedView.STOCK_FACTS

VIEWS: tuple[ViewSpec, ...] = (
    ViewSpec(
        name="metabase_executive_metrics",
        description="Executive KPIs per sale date and platform.",
        grain=("sale_date", "platform_id"),
        tier=Tier.HOURLY,
        refreshed_on=frozenset({ORDERS}),
        reads=frozenset({ORDER_FACTS}),
        indexes=(
            _grain_index("idx_exec_metrics_grain", ("sale_date", "platform_id")),
            Index("idx_exec_metrics_date", ("sale_date",), descending=True),
            Index("idx_exec_metrics_month", ("sale_month",), descending=True),
            Index("idx_exec_metrics_platform", ("platform_slug",)),
        ),
    ),
    ViewSpec(
        name="metabase_platform_performance",
        description="Marketplace comparison: volume, fees, shipping, profit, payouts, reach.",
        grain=("platform_id",),
        tier=Tier.HOURLY,
        refreshed_on=frozenset({ORDERS}),
        reads=frozenset({ORDER_FACTS}),
        indexes=(
            _grain_index("idx_platform_perf_id", ("platform_id",)),
            Index("idx_platform_perf_revenue", ("total_revenue",), descending=True),
            Index("idx_platform_perf_orders", ("total_orders",), descending=True),
        ),
    ),
    ViewSpec(
        name="metabase_inventory_status",
        description="One row per stock item: status, aging, stock category and value.",
        grain=("inventory_id",),
        tier=Tier.HOURLY,
        refreshed_on=frozenset({INVENTORY}),
        reads=frozenset({ORDER_FACTS, STOCK_FACTS}),
        indexes=(
            _grain_index("idx_inv_status_id", ("inventory_id",)),
            # The seed's indexes, on its columns and over every item: questions filter stock
            # by product, brand and stock category, and ask about sold items' age too.
            Index("idx_inv_status_product", ("product_id",)),
            Index("idx_inv_status_brand", ("brand_name",)),
            Index("idx_inv_status_category", ("stock_category",)),
            Index("idx_inv_status_aging", ("days_in_stock",), descending=True),
            # For the inventory dashboard's card: stock on hand, oldest first, within one
            # stock category (its filter). Partial: a quarter of the items are on hand.
            Index(
                "idx_inv_status_on_hand_aging",
                ("days_in_stock", "inventory_id"),
                descending=True,
                where="in_stock",
            ),
            Index(
                "idx_inv_status_category_aging",
                ("stock_category", "days_in_stock", "inventory_id"),
                descending=True,
                where="in_stock",
            ),
        ),
        revenue_column=None,  # revenue per stock item: orders without one are not here
        swap_refresh=True,
    ),
    ViewSpec(
        name="metabase_inventory_overview",
        description="Stock items per brand, category, supplier and stock category (KPIs).",
        grain=("brand_id", "category_id", "supplier_id", "stock_category", "in_stock"),
        tier=Tier.HOURLY,
        refreshed_on=frozenset({INVENTORY}),
        reads=frozenset({ORDER_FACTS, STOCK_FACTS}),
        indexes=(
            _grain_index(
                "idx_inv_overview_grain",
                ("brand_id", "category_id", "supplier_id", "stock_category", "in_stock"),
            ),
            Index("idx_inv_overview_category", ("stock_category",)),
            Index("idx_inv_overview_supplier", ("supplier_name",)),
        ),
        revenue_column=None,
    ),
    ViewSpec(
        name="metabase_product_performance",
        description="Products with at least one sale: volume, prices, profit, suppliers.",
        grain=("product_id",),
        tier=Tier.DAILY,
        refreshed_on=frozenset({ORDERS, INVENTORY}),
        reads=frozenset({ORDER_FACTS}),
        indexes=(
            _grain_index("idx_prod_perf_product", ("product_id",)),
            Index("idx_prod_perf_brand", ("brand_id",)),
            Index("idx_prod_perf_revenue", ("total_revenue",), descending=True),
            Index("idx_prod_perf_units", ("units_sold",), descending=True),
        ),
    ),
    ViewSpec(
        name="metabase_brand_analytics",
        description="Brands with at least one sale: share, positioning and volume tier.",
        grain=("brand_id",),
        tier=Tier.DAILY,
        refreshed_on=frozenset(),
        reads=frozenset({ORDER_FACTS}),
        indexes=(
            _grain_index("idx_brand_analytics_id", ("brand_id",)),
            Index("idx_brand_analytics_revenue", ("total_revenue",), descending=True),
            Index("idx_brand_analytics_share", ("market_share_pct",), descending=True),
        ),
        share_columns=("market_share_pct", "sales_share_pct"),
    ),
    ViewSpec(
        name="metabase_customer_geography",
        description="Sales per buyer country and city.",
        grain=("country", "city"),
        tier=Tier.DAILY,
        refreshed_on=frozenset(),
        reads=frozenset({ORDER_FACTS}),
        indexes=(
            _grain_index("idx_cust_geo_grain", ("country", "city")),
            Index("idx_cust_geo_country", ("country",)),
            Index("idx_cust_geo_city", ("city",)),
            Index("idx_cust_geo_revenue", ("total_revenue",), descending=True),
        ),
    ),
    ViewSpec(
        name="metabase_supplier_performance",
        description="Suppliers: purchasing, sell-through, revenue generated, unsold stock.",
        grain=("supplier_id",),
        tier=Tier.WEEKLY,
        refreshed_on=frozenset({INVENTORY}),
        reads=frozenset({ORDER_FACTS, STOCK_FACTS}),
        indexes=(
            _grain_index("idx_supp_perf_id", ("supplier_id",)),
            Index("idx_supp_perf_revenue", ("total_revenue_generated",), descending=True),
            Index("idx_supp_perf_roi", ("avg_roi",), descending=True),
        ),
        revenue_column="total_revenue_generated",
        orders_column="units_sold",
    ),
    ViewSpec(
        name="inventory_status_summary",
        description="Products with stock on hand: items, value and age.",
        grain=("product_id",),
        tier=Tier.HOURLY,
        refreshed_on=frozenset({INVENTORY}),
        reads=frozenset({STOCK_FACTS}),
        indexes=(_grain_index("idx_inventory_status_summary_product", ("product_id",)),),
        revenue_column=None,
    ),
    ViewSpec(
        name="sales_summary_daily",
        description="Orders, units, revenue and profit per sale date.",
        grain=("sale_date",),
        tier=Tier.HOURLY,
        refreshed_on=frozenset({ORDERS}),
        reads=frozenset({ORDER_FACTS}),
        indexes=(_grain_index("idx_sales_summary_daily_date", ("sale_date",)),),
    ),
    ViewSpec(
        name="supplier_performance_summary",
        description="Suppliers: items bought and sold, sell-through, revenue and profit.",
        grain=("supplier_id",),
        tier=Tier.HOURLY,
        refreshed_on=frozenset({INVENTORY}),
        reads=frozenset({ORDER_FACTS, STOCK_FACTS}),
        indexes=(_grain_index("idx_supplier_performance_summary_id", ("supplier_id",)),),
        orders_column=None,
    ),
)

VIEWS_BY_NAME: dict[str, ViewSpec] = {view.name: view for view in VIEWS}


class UnknownViewError(LookupError):
    """A name that is not a registered view."""


def get_view(name: str) -> ViewSpec:
    """The registered view called ``name``; anything else is refused before any SQL runs."""
    try:
        return VIEWS_BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(VIEWS_BY_NAME))
        raise UnknownViewError(f"unknown view {name!r}; registered views: {known}") from None


def views_in_tier(tier: Tier) -> list[ViewSpec]:
    return [view for view in VIEWS if view.tier == tier]


def views_refreshed_on(source: Source) -> list[ViewSpec]:
    return [view for view in VIEWS if source in view.watches]
