"""The four dashboards of seed 001 as data: 31 cards, their layout and their filters.

Views without a sale date (product, brand, geography, platform totals, supplier) are
lifetime aggregates, so the date range reaches only the cards that can honour it:
executive and platform KPIs read ``metabase_executive_metrics`` (sale date x platform),
and the product analytics range selects products by their most recent sale.
"""

from __future__ import annotations

import hashlib

from soleflip_bi.dashboards.model import (
    Card,
    Chart,
    Dashboard,
    DashboardFilter,
    Display,
    FilterKind,
    Layout,
    UnknownDashboardError,
)

EXECUTIVE_METRICS = "metabase_executive_metrics"
PLATFORM_PERFORMANCE = "metabase_platform_performance"
PRODUCT_PERFORMANCE = "metabase_product_performance"
BRAND_ANALYTICS = "metabase_brand_analytics"
CUSTOMER_GEOGRAPHY = "metabase_customer_geography"
INVENTORY_STATUS = "metabase_inventory_status"
INVENTORY_OVERVIEW = "metabase_inventory_overview"  # the same items, counted per cell
SUPPLIER_PERFORMANCE = "metabase_supplier_performance"


def scalar(metric: str) -> Chart:
    return Chart(Display.SCALAR, metrics=(metric,), settings={"scalar.field": metric})


def line(dimension: str, *metrics: str) -> Chart:
    return Chart(Display.LINE, dimension, metrics)


def bar(dimension: str, *metrics: str, histogram: bool = False) -> Chart:
    settings = {"graph.x_axis.scale": "histogram"} if histogram else {}
    return Chart(Display.BAR, dimension, metrics, settings)


def pie(dimension: str, metric: str) -> Chart:
    return Chart(Display.PIE, dimension, (metric,), {"pie.show_total": True})


def world_map(country_code: str, metric: str) -> Chart:
    return Chart(Display.MAP, country_code, (metric,))


def table() -> Chart:
    return Chart(Display.TABLE)


def date_range(default: str) -> DashboardFilter:
    return DashboardFilter("date_range", "Date Range", FilterKind.DATE, default)


BRAND = DashboardFilter("brand", "Brand", FilterKind.TEXT)
PLATFORM = DashboardFilter("platform", "Platform", FilterKind.TEXT)
STOCK_CATEGORY = DashboardFilter("stock_category", "Stock Category", FilterKind.TEXT)
SUPPLIER = DashboardFilter("supplier", "Supplier", FilterKind.TEXT)

BY_SALE_DATE = {"date_range": "sale_date"}
BY_SALE_DATE_AND_PLATFORM = {"date_range": "sale_date", "platform": "platform_name"}
BY_LAST_SALE_AND_BRAND = {"date_range": "last_sale_date", "brand": "brand_name"}
BY_STOCK_CATEGORY_AND_SUPPLIER = {"stock_category": "stock_category", "supplier": "supplier_name"}
BY_SUPPLIER = {"supplier": "supplier_name"}

EXECUTIVE = Dashboard(
    name="executive",
    title="Executive Dashboard",
    description="High-level KPIs for the owners: revenue, profit, ROI, trend, platforms, "
    "top products and where buyers are.",
    filters=(date_range("past30days"),),
    cards=(
        Card("total_revenue", "Total Revenue", scalar("total_revenue"), EXECUTIVE_METRICS,
             Layout(0, 0, 6, 3), "Revenue (EUR) in the date range.", BY_SALE_DATE),
        Card("total_profit", "Total Profit", scalar("total_profit"), EXECUTIVE_METRICS,
             Layout(0, 6, 6, 3), "Profit (EUR) in the date range.", BY_SALE_DATE),
        Card("average_roi", "Average ROI", scalar("avg_roi"), EXECUTIVE_METRICS,
             Layout(0, 12, 6, 3), "Average ROI (%) of the sales in the date range.",
             BY_SALE_DATE),
        Card("orders", "Orders Sold", scalar("total_orders"), EXECUTIVE_METRICS,
             Layout(0, 18, 6, 3), "Sales in the date range.", BY_SALE_DATE),
        Card("revenue_trend", "Revenue Trend (12 months)",
             line("sale_month", "total_revenue", "total_profit"), EXECUTIVE_METRICS,
             Layout(3, 0, 24, 6), "Revenue and profit per month, this month included."),
        Card("platform_performance", "Platform Performance",
             bar("platform_name", "total_revenue", "total_profit"), EXECUTIVE_METRICS,
             Layout(9, 0, 12, 8), "Revenue and profit per marketplace in the date range.",
             BY_SALE_DATE),
        Card("top_products", "Top 10 Products by Revenue", table(), PRODUCT_PERFORMANCE,
             Layout(9, 12, 12, 8), "Lifetime totals."),
        Card("sales_by_country", "Sales by Country", world_map("country_code", "total_revenue"),
             CUSTOMER_GEOGRAPHY, Layout(17, 0, 24, 8), "Lifetime revenue per buyer country."),
    ),
)  # fmt: skip

PRODUCT_ANALYTICS = Dashboard(
    name="product_analytics",
    title="Product Analytics",
    description="Product and brand performance for product managers and buyers. The date "
    "range selects products by their most recent sale; their figures are lifetime totals.",
    filters=(date_range("past90days"), BRAND),
    cards=(
        Card("top_products_by_revenue", "Top Products by Revenue",
             bar("product_name", "total_revenue"), PRODUCT_PERFORMANCE, Layout(0, 0, 12, 7),
             field_filters=BY_LAST_SALE_AND_BRAND),
        Card("top_products_by_units", "Top Products by Units Sold",
             bar("product_name", "units_sold"), PRODUCT_PERFORMANCE, Layout(0, 12, 12, 7),
             field_filters=BY_LAST_SALE_AND_BRAND),
        Card("brand_performance", "Brand Performance", pie("brand_name", "total_revenue"),
             BRAND_ANALYTICS, Layout(7, 0, 12, 7), "Lifetime revenue per brand.",
             {"brand": "brand_name"}),
        Card("category_distribution", "Category Distribution",
             pie("category_name", "total_revenue"), PRODUCT_PERFORMANCE, Layout(7, 12, 12, 7),
             "Revenue per product category.", BY_LAST_SALE_AND_BRAND),
        Card("product_performance", "Product Performance", table(), PRODUCT_PERFORMANCE,
             Layout(14, 0, 24, 9), "Every product with a sale, all metrics.",
             BY_LAST_SALE_AND_BRAND),
        Card("price_distribution", "Price Distribution",
             bar("price_band_eur", "products", histogram=True), PRODUCT_PERFORMANCE,
             Layout(23, 0, 12, 7), "Products per band of 50 EUR of average sale price.",
             BY_LAST_SALE_AND_BRAND),
        Card("sell_through_by_brand", "Sell-Through Rate by Brand",
             bar("brand_name", "sell_through_rate"), INVENTORY_OVERVIEW, Layout(23, 12, 12, 7),
             "Share (%) of the stock items bought that sold, for the 15 brands bought most.",
             {"brand": "brand_name"}),
    ),
)  # fmt: skip

PLATFORM_PERFORMANCE_DASHBOARD = Dashboard(
    name="platform_performance",
    title="Platform Performance",
    description="Marketplace comparison for operations and finance: volume, fees, payouts, "
    "profitability and reach.",
    filters=(date_range("past30days"), PLATFORM),
    cards=(
        Card("total_orders", "Total Orders", scalar("total_orders"), EXECUTIVE_METRICS,
             Layout(0, 0, 6, 3), "Sales in the date range.", BY_SALE_DATE_AND_PLATFORM),
        Card("total_revenue", "Total Revenue", scalar("total_revenue"), EXECUTIVE_METRICS,
             Layout(0, 6, 6, 3), "Revenue (EUR) in the date range.", BY_SALE_DATE_AND_PLATFORM),
        Card("average_fee", "Average Fees", scalar("avg_fee"), EXECUTIVE_METRICS,
             Layout(0, 12, 6, 3), "Marketplace fee (EUR) per sale in the date range.",
             BY_SALE_DATE_AND_PLATFORM),
        Card("average_payout_days", "Average Payout Days", scalar("avg_payout_days"),
             PLATFORM_PERFORMANCE, Layout(0, 18, 6, 3),
             "Days from sale to payout, over all payouts received.", {"platform": "platform_name"}),
        Card("revenue_by_platform", "Revenue by Platform",
             bar("platform_name", "total_revenue", "total_net_proceeds"), EXECUTIVE_METRICS,
             Layout(3, 0, 12, 7), field_filters=BY_SALE_DATE_AND_PLATFORM),
        Card("fee_comparison", "Fee Comparison", bar("platform_name", "fee_pct", "shipping_pct"),
             EXECUTIVE_METRICS, Layout(3, 12, 12, 7),
             "Fees and shipping as % of revenue in the date range.", BY_SALE_DATE_AND_PLATFORM),
        Card("platform_profitability", "Platform Profitability", table(), PLATFORM_PERFORMANCE,
             Layout(10, 0, 24, 7), "Lifetime comparison of every marketplace.",
             {"platform": "platform_name"}),
        Card("countries_served", "Countries Served by Platform",
             world_map("country_code", "platforms"), CUSTOMER_GEOGRAPHY, Layout(17, 0, 24, 8),
             "Number of marketplaces that sold to each country; with a platform chosen, the "
             "countries it sold to.", variables=("platform",)),
    ),
)  # fmt: skip

INVENTORY_MANAGEMENT = Dashboard(
    name="inventory_management",
    title="Inventory Management",
    description="Stock on hand, aging and supplier performance for inventory managers.",
    filters=(STOCK_CATEGORY, SUPPLIER),
    cards=(
        Card("current_stock_value", "Current Stock Value", scalar("current_inventory_value"),
             INVENTORY_OVERVIEW, Layout(0, 0, 6, 3),
             "Net purchase value (EUR) of the stock on hand.",
             BY_STOCK_CATEGORY_AND_SUPPLIER),
        Card("dead_stock_count", "Dead Stock Count", scalar("dead_stock_items"), INVENTORY_OVERVIEW,
             Layout(0, 6, 6, 3), "Items on hand classified Dead Stock.", BY_SUPPLIER),
        Card("average_days_in_stock", "Average Days in Stock", scalar("avg_days_in_stock"),
             INVENTORY_OVERVIEW, Layout(0, 12, 6, 3), "Of the items on hand.",
             BY_STOCK_CATEGORY_AND_SUPPLIER),
        Card("slow_moving_items", "Slow-Moving Items", scalar("slow_moving_items"),
             INVENTORY_OVERVIEW, Layout(0, 18, 6, 3), "Items on hand classified Slow Moving.",
             BY_SUPPLIER),
        Card("aging_distribution", "Inventory Aging Distribution",
             bar("stock_category", "items"), INVENTORY_OVERVIEW, Layout(3, 0, 12, 7),
             "Items on hand per stock category, youngest first.", BY_STOCK_CATEGORY_AND_SUPPLIER),
        Card("stock_by_category", "Stock Status by Category", pie("category_name", "items"),
             INVENTORY_OVERVIEW, Layout(3, 12, 12, 7), "Items on hand per product category.",
             BY_STOCK_CATEGORY_AND_SUPPLIER),
        Card("inventory_status", "Inventory Status", table(), INVENTORY_STATUS,
             Layout(10, 0, 24, 9), "Every item on hand, oldest first.",
             BY_STOCK_CATEGORY_AND_SUPPLIER),
        Card("supplier_performance", "Supplier Performance", table(), SUPPLIER_PERFORMANCE,
             Layout(19, 0, 24, 8), "Sell-through, ROI and unsold stock per supplier.",
             BY_SUPPLIER),
    ),
)  # fmt: skip

DASHBOARDS: tuple[Dashboard, ...] = (
    EXECUTIVE,
    PRODUCT_ANALYTICS,
    PLATFORM_PERFORMANCE_DASHBOARD,
    INVENTORY_MANAGEMENT,
)
DASHBOARDS_BY_NAME: dict[str, Dashboard] = {d.name: d for d in DASHBOARDS}


def get_dashboard(name: str) -> Dashboard:
    try:
        return DASHBOARDS_BY_NAME[name]
    except KeyError:
        known = ", ".join(DASHBOARDS_BY_NAME)
        raise UnknownDashboardError(f"unknown dashboard {name!r}; dashboards: {known}") from None


def views_read() -> list[str]:
    """The analytics views the cards read, in a stable order (the asset's deps)."""
    return sorted({card.view for dashboard in DASHBOARDS for card in dashboard.cards})


def templates_hash() -> str:
    """Hash of every template and card SQL: the dashboards asset's code version."""
    digest = hashlib.sha256()
    for dashboard in DASHBOARDS:
        digest.update(repr(dashboard).encode())
        for card in dashboard.cards:
            digest.update(dashboard.sql(card).encode())
    return digest.hexdigest()[:16]
