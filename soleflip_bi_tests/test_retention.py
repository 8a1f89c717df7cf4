"""The project's refresh log and Dagster's tick history are bounded, by documented settings."""

from __future__ import annotations

import psycopg
import pytest
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import TickStatus

from soleflip_bi.views.materialize import materialize_view
from soleflip_bi.views.registry import get_view
from soleflip_bi_tests.support.shop import stock_shop

VIEW = "sales_summary_daily"


@pytest.fixture
def shop(scratch_database_url: str) -> str:
    return stock_shop(scratch_database_url, orders=200, seed=19)


def _log(conn: psycopg.Connection) -> list[tuple[str, int]]:
    return conn.execute(
        "select mode, extract(day from now() - finished_at)::int from soleflip_bi.refresh_log "
        "where view_name = %s order by id",
        (VIEW,),
    ).fetchall()


def test_a_refresh_forgets_its_refreshes_older_than_the_setting_but_the_newest_of_each_mode(
    shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOLEFLIP_REFRESH_LOG_DAYS", "30")
    with psycopg.connect(shop) as conn:
        conn.execute("delete from soleflip_bi.refresh_log where view_name = %s", (VIEW,))
        for mode, age in [("create", 400), ("concurrent", 200), ("concurrent", 100),
                          ("concurrent", 20), ("rebuild", 50)]:  # fmt: skip
            conn.execute(
                "insert into soleflip_bi.refresh_log (view_name, mode, definition_hash, "
                "started_at, finished_at, row_count) values (%s, %s, 'x', "
                "now() - make_interval(days => %s), now() - make_interval(days => %s), 1)",
                (VIEW, mode, age, age),
            )
        conn.commit()
        materialize_view(conn, get_view(VIEW))
        assert _log(conn) == [
            ("create", 400),  # the newest (only) create: kept whatever its age
            ("concurrent", 20),  # within 30 days
            ("rebuild", 50),  # the newest rebuild: what `views plan` shows as its cost
            ("concurrent", 0),  # this refresh
        ]


def test_a_bad_retention_setting_is_one_sentence_and_leaves_the_view_as_it_was(
    shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOLEFLIP_REFRESH_LOG_DAYS", "a month")
    with psycopg.connect(shop) as conn, pytest.raises(ValueError) as failure:
        materialize_view(conn, get_view(VIEW))
    assert str(failure.value) == (
        "SOLEFLIP_REFRESH_LOG_DAYS must be a whole number of days (1 or more), not 'a month'"
    )
    with psycopg.connect(shop) as conn:
        assert conn.execute(f"select count(*) from analytics.{VIEW}").fetchone()[0] > 0


def test_tick_history_is_bounded_by_the_instances_retention(instance) -> None:
    assert dict(instance.get_tick_retention_settings(InstigatorType.SENSOR)) == {
        TickStatus.STARTED: -1,
        TickStatus.SKIPPED: 1,
        TickStatus.SUCCESS: 90,
        TickStatus.FAILURE: 90,
    }
    schedule = instance.get_tick_retention_settings(InstigatorType.SCHEDULE)
    assert set(schedule.values()) == {90}
