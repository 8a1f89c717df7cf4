"""A reader that keeps counting a relation while something else happens to it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg


@dataclass
class Reading:
    reads: int = 0
    errors: list[Exception] = field(default_factory=list)


@contextmanager
def reading_throughout(url: str, relation: str) -> Iterator[Reading]:
    """Count ``relation`` in a loop (each count must be > 0) for the whole block, 0.2 s
    before and after it too; any error a reader would see is kept in ``errors``."""
    seen = Reading()
    stop = threading.Event()

    def read() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    count = conn.execute(f"select count(*) from {relation}").fetchone()[0]
                    assert count > 0, f"{relation} is empty"
                    seen.reads += 1
                except Exception as exc:  # any error is what a reader would have seen
                    seen.errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        time.sleep(0.2)
        yield seen
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join()
