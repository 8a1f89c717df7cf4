"""The statement a card renders to, as Metabase would send it, with and without filters.

``as_string()`` without a connection quotes with psycopg's default adapters, which is
what the embedded server sees: no database is needed to read the SQL.
"""

from __future__ import annotations

import pytest

from soleflip_bi.dashboards.render import MissingFilterValue, render_card
from soleflip_bi.dashboards.templates import DASHBOARDS
from soleflip_bi_tests.support.inline_dashboard import BY_BRAND, REVENUE, SHOP

HEAD = (
    "select sum(total_revenue) as revenue\nfrom analytics.metabase_executive_metrics\nwhere true\n"
)
SALE_DATE = '"analytics"."metabase_executive_metrics"."sale_date"'
PLATFORM = '"analytics"."metabase_executive_metrics"."platform_name"'


def rendered(values=None, card=REVENUE) -> str:
    return render_card(SHOP, card, values).as_string()


def test_no_filter_drops_every_optional_clause_and_the_semicolon() -> None:
    assert rendered() == HEAD + "  \n  "


def test_empty_values_count_as_unset() -> None:
    assert rendered({"date_range": "", "platform": []}) == rendered()


def test_a_text_field_filter_becomes_an_in_list_of_quoted_values() -> None:
    assert rendered({"platform": "StockX"}) == HEAD + f"  \n  and {PLATFORM} in ('StockX')"
    assert rendered({"platform": ["GOAT", "O'Neill"]}) == (
        HEAD + f"  \n  and {PLATFORM} in ('GOAT', 'O''Neill')"
    )


def test_an_injection_attempt_stays_a_literal() -> None:
    text = rendered({"platform": "x'); drop table sales.order; --"})
    assert text.endswith(f"and {PLATFORM} in ('x''); drop table sales.order; --')")


def test_past_n_days_ends_before_today_begins() -> None:
    assert rendered({"date_range": "past30days"}) == (
        HEAD + f"  and ({SALE_DATE} >= date_trunc('day', current_date) - '30 day'::interval"
        f" and {SALE_DATE} < date_trunc('day', current_date))\n  "
    )


def test_past_n_months_counts_whole_months() -> None:
    assert "date_trunc('month', current_date) - '3 month'::interval" in rendered(
        {"date_range": "past3months"}
    )


def test_this_month() -> None:
    assert rendered({"date_range": "thismonth"}) == (
        HEAD + f"  and date_trunc('month', {SALE_DATE}::timestamp) = "
        "date_trunc('month', current_date::timestamp)\n  "
    )


FROM_JAN = f"{SALE_DATE} >= '2025-01-01'::date"
TO_MARCH = f"{SALE_DATE} <= '2025-03-31'::date"


@pytest.mark.parametrize(
    ("value", "condition"),
    [
        ("2025-01-01~2025-03-31", f"({FROM_JAN} and {TO_MARCH})"),
        ("2025-01-01~", f"({FROM_JAN})"),
        ("~2025-03-31", f"({TO_MARCH})"),
        (
            "2025-02-14",
            f"({SALE_DATE} >= '2025-02-14'::date and {SALE_DATE} <= '2025-02-14'::date)",
        ),
    ],
)
def test_date_ranges_and_single_days(value: str, condition: str) -> None:
    assert rendered({"date_range": value}) == HEAD + f"  and {condition}\n  "


def test_a_bad_date_is_refused_rather_than_sent() -> None:
    with pytest.raises(ValueError, match=r"^month must be in 1\.\.12$"):
        rendered({"date_range": "2025-13-01~"})


def test_both_filters_set() -> None:
    assert rendered({"date_range": "2025-01-01~", "platform": "GOAT"}) == (
        HEAD + f"  and ({SALE_DATE} >= '2025-01-01'::date)\n  and {PLATFORM} in ('GOAT')"
    )


def test_a_variable_becomes_one_literal() -> None:
    expected = (
        "select brand_name, total_revenue as revenue, total_profit as profit\n"
        "from analytics.metabase_brand_analytics\n"
        "where brand_name = 'Nike'"
    )
    assert rendered({"brand": "Nike"}, BY_BRAND) == expected
    assert rendered({"brand": ["Nike", "Adidas"]}, BY_BRAND) == expected  # the first value


def test_a_required_variable_without_a_value_is_refused() -> None:
    with pytest.raises(MissingFilterValue, match=r"^shop/by_brand: \{\{brand\}\} needs a value$"):
        rendered({}, BY_BRAND)


def test_a_real_card_renders_to_its_file_with_the_filter_filled_in() -> None:
    executive = next(d for d in DASHBOARDS if d.name == "executive")
    card = next(c for c in executive.cards if c.key == "total_revenue")
    source = executive.sql(card)
    assert "[[and {{date_range}}]]" in source
    unfiltered = render_card(executive, card).as_string()
    assert unfiltered == source.replace("[[and {{date_range}}]]", "").rstrip()
    filtered = render_card(executive, card, {"date_range": "2025-01-01~"}).as_string()
    expected = source.replace("[[and {{date_range}}]]", f"and ({FROM_JAN})").rstrip()
    assert filtered == expected
