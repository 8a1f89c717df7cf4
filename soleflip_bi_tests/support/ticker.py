"""Sensor ticks under the test's control: the cursor carried from tick to tick as the
daemon carries it, and the time a burst is judged at chosen by the test, not slept for."""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg

from soleflip_bi.automation.sensors import MAX_QUIET_SECONDS, build_change_sensor
from soleflip_bi.capture.poll import ChangePoll
from soleflip_bi.database.resource import PostgresResource
from soleflip_bi.definitions import defs

QUIET = timedelta(seconds=MAX_QUIET_SECONDS)


class Ticker:
    """Evaluates one tick of the source-changes sensor after another against a real instance.

    ``tick()`` judges a burst at the database's own time, as the daemon does;
    ``settle()`` judges it as if the sources had been quiet just long enough, and
    ``during_burst()`` as if the last change had just been written.
    """

    def __init__(self, url: str, instance: dg.DagsterInstance) -> None:
        self.url = url
        self.instance = instance
        self.cursor: str | None = None
        self._offset: timedelta | None = None  # None: the database's clock
        # one look per tick: the test chooses when a burst is judged, the clock decides
        self.sensor = build_change_sensor(clock=self._now, tick_seconds=0)

    def _now(self, poll: ChangePoll) -> datetime:
        if self._offset is None or poll.newest_change is None:
            return poll.database_now
        return poll.newest_change + self._offset

    def _evaluate(self, offset: timedelta | None) -> dg.SensorExecutionData:
        self._offset = offset
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={"postgres": PostgresResource(database_url=self.url)},
            repository_def=defs.get_repository_def(),
        )
        data = self.sensor.evaluate_tick(context)
        if data.cursor is not None:
            self.cursor = data.cursor
        return data

    def tick(self) -> dg.SensorExecutionData:
        return self._evaluate(None)

    def settle(self) -> dg.SensorExecutionData:
        """A tick once the sources have been quiet long enough for a burst to be over."""
        return self._evaluate(QUIET + timedelta(milliseconds=1))

    def during_burst(self) -> dg.SensorExecutionData:
        """A tick right after the latest change, while a burst may still be arriving."""
        return self._evaluate(timedelta(milliseconds=100))
