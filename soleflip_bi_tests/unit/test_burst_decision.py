"""When the change sensor waits for more of a burst and when it runs: quiet for a window
that follows the rate of writes (a few mean gaps, within 0.5-2 s), or the burst has lasted
MAX_WAIT_SECONDS (a steady stream never starves)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from soleflip_bi.automation.sensors import (
    MAX_QUIET_SECONDS,
    MAX_WAIT_SECONDS,
    MIN_QUIET_SECONDS,
    QUIET_GAPS,
    quiet_window,
    still_arriving,
)
from soleflip_bi.capture.poll import ChangePoll
from soleflip_bi.shared import settings

START = datetime(2026, 3, 29, 1, 59, 0, tzinfo=UTC)  # the first change of the burst
WAITING = "{} changes, still arriving; waiting for a quiet {:.1f} s (at most 30 s)"


def poll(changes: int = 3, lasted: float = 0.0) -> ChangePoll:
    """A burst of ``changes`` that began at START and whose newest change is ``lasted`` s on."""
    return ChangePoll(
        snapshot="1000:1000:",
        changes=changes,
        oldest_change=START,
        newest_change=START + timedelta(seconds=lasted),
        database_now=START + timedelta(seconds=lasted),
        operations={"INSERT": changes},
    )


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def test_the_limits_are_what_the_readme_says() -> None:
    """The README promises the window's bounds in words; a change of a constant that the
    README does not follow fails here."""
    readme = " ".join((settings.PROJECT_ROOT / "README.md").read_text().split())
    words = {2.0: "twice", 3.0: "three times", 4.0: "four times", 5.0: "five times"}
    promise = (
        f"{words[QUIET_GAPS]} the mean gap between the burst's changes, within "
        f"{MIN_QUIET_SECONDS:g} s (a lone order) and {MAX_QUIET_SECONDS:g} s, and never "
        f"longer than {MAX_WAIT_SECONDS:g} s in all"
    )
    assert promise in readme


def test_right_after_a_change_it_waits_and_says_why() -> None:
    assert still_arriving(poll(changes=3), at(0.1)) == WAITING.format(3, 0.5)
    assert still_arriving(poll(changes=250, lasted=5), at(5)) == WAITING.format(250, 0.5)


@pytest.mark.parametrize(
    ("quiet_for", "waits"),
    [(0.0, True), (1.999, True), (2.0, False), (2.001, False), (60.0, False)],
)
def test_it_runs_once_the_source_has_been_quiet_long_enough(quiet_for: float, waits: bool) -> None:
    burst = poll(lasted=10)
    assert (still_arriving(burst, at(10 + quiet_for)) is not None) is waits


@pytest.mark.parametrize(
    ("since_first", "waits"),
    [(29.0, True), (29.999, True), (30.0, False), (45.0, False)],
)
def test_a_burst_that_never_goes_quiet_runs_after_the_longest_wait(
    since_first: float, waits: bool
) -> None:
    # a change every half second: never quiet for 2 s
    burst = poll(changes=100, lasted=since_first - 0.5)
    assert (still_arriving(burst, at(since_first)) is not None) is waits


def test_a_single_old_change_runs_at_once() -> None:
    assert still_arriving(poll(changes=1), at(3)) is None


@pytest.mark.parametrize(("after", "waits"), [(0.1, True), (0.499, True), (0.5, False)])
def test_a_lone_change_waits_half_a_second(after: float, waits: bool) -> None:
    assert (still_arriving(poll(changes=1), at(after)) is not None) is waits


@pytest.mark.parametrize(
    ("changes", "lasted", "window"),
    [
        (1, 0.0, 0.5),  # nothing to judge a rhythm by: the shortest window
        (500, 1.0, 0.5),  # a bulk write, 2 ms apart: over as soon as it stops
        (11, 2.0, 0.8),  # a change every 0.2 s: four gaps
        (10, 9.0, 2.0),  # a change a second: the longest window
    ],
)
def test_the_quiet_window_follows_the_rate_of_writes(
    changes: int, lasted: float, window: float
) -> None:
    assert quiet_window(poll(changes=changes, lasted=lasted)) == pytest.approx(window)


def test_a_clock_behind_the_newest_change_still_waits() -> None:
    # a database clock that reads slightly before the commit timestamps: not yet quiet
    assert still_arriving(poll(lasted=4), at(3.5)) == WAITING.format(3, 2.0)
