"""A dashboard template whose card SQL is given inline instead of read from
``dashboards/sql/``, so rendering and payload tests choose the exact text they check."""

from __future__ import annotations

from dataclasses import dataclass

from soleflip_bi.dashboards.model import (
    Card,
    Chart,
    Dashboard,
    DashboardFilter,
    Display,
    FilterKind,
    Layout,
)


@dataclass(frozen=True)
class InlineDashboard(Dashboard):
    texts: tuple[tuple[str, str], ...] = ()  # (card key, SQL)

    def sql(self, card: Card) -> str:
        return dict(self.texts)[card.key]


DATE_RANGE = DashboardFilter("date_range", "Date Range", FilterKind.DATE, "past30days")
PLATFORM = DashboardFilter("platform", "Platform", FilterKind.TEXT)
BRAND = DashboardFilter("brand", "Brand", FilterKind.TEXT)

# a field filter on a date, a field filter on text, and a plain text variable
REVENUE = Card(
    key="revenue",
    title="Revenue",
    chart=Chart(Display.SCALAR, metrics=("revenue",), settings={"scalar.field": "revenue"}),
    view="metabase_executive_metrics",
    layout=Layout(row=0, col=6, size_x=6, size_y=3),
    description="Revenue in the range.",
    field_filters={"date_range": "sale_date", "platform": "platform_name"},
)
BY_BRAND = Card(
    key="by_brand",
    title="Revenue by Brand",
    chart=Chart(Display.BAR, "brand_name", ("revenue", "profit")),
    view="metabase_brand_analytics",
    layout=Layout(row=3, col=0, size_x=12, size_y=6),
    variables=("brand",),
)

REVENUE_SQL = (
    "select sum(total_revenue) as revenue\n"
    "from analytics.metabase_executive_metrics\n"
    "where true\n"
    "  [[and {{date_range}}]]\n"
    "  [[and {{ platform }}]];\n"
)
BY_BRAND_SQL = (
    "select brand_name, total_revenue as revenue, total_profit as profit\n"
    "from analytics.metabase_brand_analytics\n"
    "where brand_name = {{brand}}\n"
)

SHOP = InlineDashboard(
    name="shop",
    title="Shop",
    description="The shop at a glance.",
    filters=(DATE_RANGE, PLATFORM, BRAND),
    cards=(REVENUE, BY_BRAND),
    texts=(("revenue", REVENUE_SQL), ("by_brand", BY_BRAND_SQL)),
)
