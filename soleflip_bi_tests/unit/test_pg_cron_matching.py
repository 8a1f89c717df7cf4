"""Which pg_cron commands refresh what soleflip-bi refreshes: whole identifiers only, and
never what a comment says."""

from __future__ import annotations

import pytest

from soleflip_bi.views.pg_cron import refreshed_by, without_comments


@pytest.mark.parametrize(
    "command",
    [
        "select refresh_preview_thumbnails()",
        "select shop.refresh_review_scores()",
        "SELECT refresh_overview_cache();",
        "select audit.log_refresh_views_done()",
        "-- refresh materialized view analytics.metabase_executive_metrics\nselect 1",
        "select 1 /* was: select refresh_views('hourly') */",
        "/* outer /* refresh materialized view metabase_brand_analytics */ still */ select 2",
        "select pg_notify('nightly', 'done') -- then refresh_all_views()",
        "refresh materialized view analytics.metabase_executive_metrics_archive",
        "refresh materialized view other.metabase_executive_metrics",
        "select refresh_viewer_counts()",
    ],
)
def test_look_alikes_are_left_alone(command: str) -> None:
    assert refreshed_by(command) == ()


@pytest.mark.parametrize(
    ("command", "refreshes"),
    [
        (
            "REFRESH MATERIALIZED VIEW CONCURRENTLY analytics.metabase_executive_metrics",
            ("metabase_executive_metrics",),
        ),
        (
            'refresh materialized view "analytics"."metabase_brand_analytics"; -- hourly',
            ("metabase_brand_analytics",),
        ),
        ("select refresh_views('hourly')", ("refresh_views()",)),
        ("select analytics.refresh_all_views()", ("refresh_all_views()",)),
        ("/* nightly */ select refresh_daily_views()", ("refresh_daily_views()",)),
        ("select 'x -- y'; select refresh_views('daily')", ("refresh_views()",)),
        # text that is executed (a DO block, EXECUTE) is searched as code
        (
            "do $$ begin execute 'refresh materialized view analytics.metabase_brand_analytics';"
            " end $$",
            ("metabase_brand_analytics",),
        ),
    ],
)
def test_refreshes_of_ours_are_found(command: str, refreshes: tuple[str, ...]) -> None:
    assert refreshed_by(command) == refreshes


def test_quoted_text_keeps_its_comment_markers() -> None:
    assert without_comments("select '--not a comment', $$ /* nor this */ $$ -- but this") == (
        "select '--not a comment', $$ /* nor this */ $$  "
    )
