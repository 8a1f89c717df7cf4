"""The pieces of the load scenario: shop writers, refresh workers and a refresh watcher.

* ``ShopWriter`` (one thread each) plays the order and inventory services: each sale inserts a
  stock item and its order in one transaction, some orders are repriced later, new stock
  is bought and stock is moved. Every committed write is counted, every error kept.
* ``run_worker`` is a separate process (as the daemon's run launcher would start) that
  executes queued Dagster runs of the real code location. Dagster runs cannot share one
  process: its logging set-up is not thread-safe.
* ``RefreshWatcher`` samples pg_stat_activity and records how many refreshes of each
  view run at the same moment.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing.queues import Queue

import dagster as dg
import psycopg
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.execution.api import execute_run

SALE = "sale"
REPRICE = "reprice"
PURCHASE = "purchase"
MOVE = "move"
OPERATIONS = (SALE, SALE, SALE, REPRICE, PURCHASE, MOVE)
# What an operation records once its transaction has committed.
Done = Callable[[], None]


@dataclass(frozen=True)
class Catalogue:
    """Ids the writers pick from (products, suppliers, marketplaces)."""

    products: list[str]
    suppliers: list[str]
    platforms: list[str]

    @classmethod
    def read(cls, url: str) -> Catalogue:
        with psycopg.connect(url, autocommit=True) as conn:

            def ids(query: str) -> list[str]:
                return [str(row[0]) for row in conn.execute(query)]

            return cls(
                ids("select id from catalog.product"),
                ids("select id from supplier.profile"),
                ids("select id from platform.marketplace"),
            )


@dataclass
class ShopWriter:
    """One application connection writing orders and stock until ``stop`` is set."""

    url: str
    catalogue: Catalogue
    stop: threading.Event
    seed: int
    pause: float = 0.02
    committed: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    revenue: dict[str, Decimal] = field(default_factory=dict)  # order id -> gross, committed
    stock: list[str] = field(default_factory=list)

    def run(self) -> None:
        rng = random.Random(self.seed)
        with psycopg.connect(self.url, application_name="shop-writer") as conn:
            while not self.stop.is_set():
                operation = rng.choice(OPERATIONS)
                if operation != SALE and not self.revenue:
                    operation = SALE
                try:
                    with conn.transaction():
                        done = getattr(self, f"_{operation}")(conn, rng)
                except psycopg.Error as error:
                    self.errors.append(f"{operation}: {type(error).__name__}: {error}")
                    continue
                done()  # bookkeeping only after the commit
                self.committed[operation] += 1
                time.sleep(self.pause)

    def _insert_stock(
        self,
        conn: psycopg.Connection,
        rng: random.Random,
        stock_id: str,
        status: str,
        price: Decimal,
    ) -> None:
        conn.execute(
            "insert into inventory.stock (id, product_id, supplier_id, quantity, status, "
            "purchase_price, purchase_date) values (%s, %s, %s, 1, %s, %s, now())",
            (
                stock_id,
                rng.choice(self.catalogue.products),
                rng.choice(self.catalogue.suppliers),
                status,
                price,
            ),
        )

    def _sale(self, conn: psycopg.Connection, rng: random.Random) -> Done:
        stock_id, order_id = str(uuid.uuid4()), str(uuid.uuid4())
        gross = Decimal(rng.randrange(5000, 50000)) / 100
        self._insert_stock(conn, rng, stock_id, "sold", gross / 2)
        conn.execute(
            'insert into sales."order" (id, inventory_item_id, platform_id, status, '
            "currency_code, gross_sale, platform_fee, shipping_cost, buyer_country, buyer_city, "
            "sold_at) values (%s, %s, %s, 'completed', 'EUR', %s, %s, 5, 'DE', 'Berlin', now())",
            (order_id, stock_id, rng.choice(self.catalogue.platforms), gross, gross / 10),
        )

        def done() -> None:
            self.revenue[order_id] = gross
            self.stock.append(stock_id)

        return done

    def _reprice(self, conn: psycopg.Connection, rng: random.Random) -> Done:
        order_id = rng.choice(list(self.revenue))
        gross = Decimal(rng.randrange(5000, 50000)) / 100
        conn.execute(
            'update sales."order" set gross_sale = %s, updated_at = now() where id = %s',
            (gross, order_id),
        )
        return lambda: self.revenue.__setitem__(order_id, gross)

    def _purchase(self, conn: psycopg.Connection, rng: random.Random) -> Done:
        stock_id = str(uuid.uuid4())
        self._insert_stock(
            conn, rng, stock_id, "available", Decimal(rng.randrange(2000, 20000)) / 100
        )
        return lambda: self.stock.append(stock_id)

    def _move(self, conn: psycopg.Connection, rng: random.Random) -> Done:
        conn.execute(
            "update inventory.stock set location = %s, updated_at = now() where id = %s",
            (f"shelf {rng.randrange(100)}", rng.choice(self.stock)),
        )
        return lambda: None


@dataclass
class RefreshWatcher:
    """Samples the refresh statements running in one database."""

    url: str
    stop: threading.Event
    interval: float = 0.02
    samples: int = 0
    most_at_once_per_view: Counter = field(default_factory=Counter)
    most_at_once: int = 0

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.is_set():
                running = [
                    row[0]
                    for row in conn.execute(
                        r"""
                        select coalesce(substring(query from
                                 'materialized view (?:concurrently )?"?analytics"?\."?(\w+)'),
                                 '?')
                        from pg_stat_activity
                        where datname = current_database() and state = 'active'
                          and query ~* '^\s*(refresh|create) materialized view'
                          -- a parallel worker shows its leader's statement: one refresh
                          and backend_type = 'client backend'
                          -- pg_stat_activity is read one backend at a time: a refresh that
                          -- began while it was read may follow one that ended meanwhile
                          and query_start <= statement_timestamp()
                        """
                    )
                ]
                self.samples += 1
                self.most_at_once = max(self.most_at_once, len(running))
                for view, count in Counter(v.removesuffix("__build") for v in running).items():
                    self.most_at_once_per_view[view] = max(self.most_at_once_per_view[view], count)
                time.sleep(self.interval)


def run_worker(runs: Queue, results: Queue) -> None:
    """Execute queued runs (by id) of the code location until ``None`` arrives.

    Runs in its own process; DAGSTER_HOME, DAGSTER_POSTGRES_URL and SOLEFLIP_DATABASE_URL
    come from the environment it was started with.
    """
    repository = ReconstructableRepository.for_module(
        "soleflip_bi.definitions", "defs", working_directory=os.getcwd()
    )
    with dg.DagsterInstance.get() as instance:
        results.put(("ready", os.getpid(), True, 0.0, 0.0))
        while (run_id := runs.get()) is not None:
            run = instance.get_run_by_id(run_id)
            started = time.time()
            outcome = execute_run(repository.get_reconstructable_job(run.job_name), run, instance)
            results.put((run_id, os.getpid(), outcome.success, started, time.time()))
