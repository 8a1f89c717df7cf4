"""Keep the fast tier fast: any attempt to reach PostgreSQL or make a Dagster instance
fails the test at once instead of starting the embedded server."""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

from soleflip_bi.database import embedded


def _refuse(what: str):
    def refuse(*_args: object, **_kwargs: object):
        raise AssertionError(f"a unit test tried to {what}; it belongs in soleflip_bi_tests/")

    return refuse


@pytest.fixture(autouse=True)
def no_database_and_no_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psycopg, "connect", _refuse("connect to PostgreSQL"))
    monkeypatch.setattr(psycopg.Connection, "connect", _refuse("connect to PostgreSQL"))
    monkeypatch.setattr(embedded, "default_server", _refuse("start the embedded server"))
    for factory in ("get", "ephemeral", "local_temp"):
        monkeypatch.setattr(dg.DagsterInstance, factory, _refuse("make a Dagster instance"))
