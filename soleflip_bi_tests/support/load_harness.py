"""Drive the load scenario: writers write, the sensor ticks, runs queue and execute, and at
the end one more tick and refresh must bring every committed write into the views.

The source-changes sensor is evaluated in this process the way the daemon evaluates it
(cursor carried from tick to tick, see support.ticker.Ticker): during the load at the
database's own time, so bursts are judged on the wall clock as the daemon judges them; for
the final tick as if the shop had been quiet long enough (no sleep). Each RunRequest
becomes a run of the sensor's whole job (every watched view, a superset of what it asked
for), created NOT_STARTED on the real instance, so the sensor sees it waiting, and executed
by worker processes, which, unlike the run queue, do not wait for each other: the hourly
schedule is compressed to ``schedule_every`` seconds so that its runs overlap the sensor's
runs on the same views, and the refreshes must stay right when runs do overlap.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import dagster as dg

from soleflip_bi.automation.jobs import SOURCE_JOB, TIER_JOBS
from soleflip_bi.automation.sensors import WAITING_STATUSES
from soleflip_bi.definitions import defs
from soleflip_bi.shared.tags import SENSOR_TAG
from soleflip_bi.views.registry import Tier
from soleflip_bi_tests.support.load import Catalogue, RefreshWatcher, ShopWriter, run_worker
from soleflip_bi_tests.support.ticker import Ticker

SCHEDULE_TAG = "soleflip/load-schedule"


@dataclass(frozen=True)
class FinishedRun:
    run_id: str
    worker: int
    success: bool
    started: float
    finished: float


@dataclass
class LoadOutcome:
    seconds: float
    writers: list[ShopWriter]
    watcher: RefreshWatcher
    runs: list[FinishedRun] = field(default_factory=list)
    requested: Counter = field(default_factory=Counter)  # runs created, per trigger
    most_waiting: Counter = field(default_factory=Counter)  # NOT_STARTED runs, per trigger
    ticks: int = 0  # rounds of the tick loop
    sensor_ticks: int = 0  # sensor evaluations, over all sensors
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    final_requests: int = 0
    requests_after_final_refresh: int = 0

    @property
    def committed(self) -> Counter:
        return sum((w.committed for w in self.writers), Counter())

    @property
    def write_errors(self) -> list[str]:
        return [error for writer in self.writers for error in writer.errors]


class RunPool:
    """Runs created on the instance and executed by worker processes."""

    def __init__(self, instance: dg.DagsterInstance, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.instance = instance
        self.todo = context.Queue()
        self.done = context.Queue()
        self.pending: set[str] = set()
        self.finished: list[FinishedRun] = []
        self.processes = [
            context.Process(target=run_worker, args=(self.todo, self.done), daemon=True)
            for _ in range(workers)
        ]
        for process in self.processes:
            process.start()
        for _ in self.processes:
            self.done.get(timeout=180)  # each worker reports ready once

    def submit(self, job_name: str, tags: dict[str, str]) -> None:
        run = self.instance.create_run_for_job(
            job_def=defs.resolve_job_def(job_name),
            status=dg.DagsterRunStatus.NOT_STARTED,
            tags=tags,
        )
        self.pending.add(run.run_id)
        self.todo.put(run.run_id)

    def collect(self, wait: float = 0.0) -> None:
        deadline = time.monotonic() + wait
        while True:
            try:
                item = self.done.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return
            finished = FinishedRun(*item)
            self.pending.discard(finished.run_id)
            self.finished.append(finished)

    def drain(self, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        while self.pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.pending)} runs still unfinished")
            self.collect(wait=1.0)

    def close(self) -> None:
        """Stop every worker: asked first, then terminated, then killed; none outlives it."""
        for _ in self.processes:
            self.todo.put(None)
        for process in self.processes:
            process.join(timeout=60)
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=10)
        for channel in (self.todo, self.done):
            channel.close()
            channel.join_thread()


def _waiting_by_trigger(instance: dg.DagsterInstance) -> Counter:
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=WAITING_STATUSES))
    return Counter(
        r.dagster_run.tags.get(SENSOR_TAG, r.dagster_run.tags.get(SCHEDULE_TAG, "other"))
        for r in records
    )


def run_load(
    url: str,
    instance: dg.DagsterInstance,
    seconds: float,
    writers: int = 20,
    workers: int = 3,
    schedule_every: float = 10.0,
    pause: float = 0.02,
) -> LoadOutcome:
    clock = time.monotonic()
    pool = RunPool(instance, workers)
    try:
        return _drive(pool, url, instance, seconds, writers, schedule_every, pause, clock)
    finally:
        pool.close()


def _drive(
    pool: RunPool,
    url: str,
    instance: dg.DagsterInstance,
    seconds: float,
    writers: int,
    schedule_every: float,
    pause: float,
    clock: float,
) -> LoadOutcome:
    workers_ready = time.monotonic() - clock
    ticker = Ticker(url, instance)
    ticker.settle()  # the first tick, before the load begins
    stop = threading.Event()
    catalogue = Catalogue.read(url)
    shop = [ShopWriter(url, catalogue, stop, seed=i, pause=pause) for i in range(writers)]
    watcher = RefreshWatcher(url, stop)
    threads = [threading.Thread(target=w.run, daemon=True) for w in [*shop, watcher]]
    outcome = LoadOutcome(seconds, shop, watcher)
    outcome.timings["workers_ready"] = workers_ready

    def submit_requests(data: dg.SensorExecutionData) -> int:
        for request in data.run_requests:
            pool.submit(SOURCE_JOB.name, dict(request.tags))
            outcome.requested[request.tags[SENSOR_TAG]] += 1
        return len(data.run_requests)

    for thread in threads:
        thread.start()
    started = time.monotonic()
    next_schedule = started + schedule_every
    try:
        while time.monotonic() - started < seconds:
            submit_requests(ticker.tick())
            outcome.sensor_ticks += 1
            if time.monotonic() >= next_schedule:
                pool.submit(TIER_JOBS[Tier.HOURLY].name, {SCHEDULE_TAG: "hourly"})
                outcome.requested["hourly"] += 1
                next_schedule += schedule_every
            for trigger, count in _waiting_by_trigger(instance).items():
                outcome.most_waiting[trigger] = max(outcome.most_waiting[trigger], count)
            outcome.ticks += 1
            pool.collect(wait=1.0)
        stop.set()
        for thread in threads[:-1]:
            thread.join(timeout=60)
        outcome.timings["load"] = time.monotonic() - started
        pool.drain()
        outcome.timings["drain"] = time.monotonic() - started - outcome.timings["load"]
        # The final tick and refresh: whatever the last runs did not read is requested now.
        # The writers have stopped, so the last burst is over: judge it as settled.
        outcome.final_requests = submit_requests(ticker.settle())
        pool.drain()
        outcome.requests_after_final_refresh = len(ticker.settle().run_requests)
        outcome.sensor_ticks += 2
        outcome.timings["final_tick_and_refresh"] = (
            time.monotonic() - started - outcome.timings["load"] - outcome.timings["drain"]
        )
    finally:
        stop.set()
    threads[-1].join(timeout=10)
    outcome.runs = pool.finished
    return outcome
