"""The Dagster resource every asset, check and sensor uses to reach PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg
from pydantic import Field

from soleflip_bi.database.connection import resolve_database_url
from soleflip_bi.database.liveness import CLIENT_KEEPALIVES, SESSION_OPTIONS


class PostgresResource(dg.ConfigurableResource):
    """The shop database holding the source tables and the ``analytics`` schema.

    ``database_url`` is normally left unset: the URL is then read from
    ``SOLEFLIP_DATABASE_URL`` when a connection is opened (so definitions load with no
    secret present), or the embedded server is used when that is unset too.
    """

    database_url: str | None = Field(
        default=None, description="libpq URL; default: $SOLEFLIP_DATABASE_URL or embedded"
    )
    statement_timeout_ms: int = Field(
        default=15 * 60 * 1000, description="statement_timeout of refresh sessions"
    )
    lock_timeout_ms: int = Field(
        default=30 * 1000,
        description="lock_timeout of refresh sessions: give up rather than queue forever "
        "behind a long reader",
    )

    def url(self) -> str:
        return resolve_database_url(self.database_url)

    @contextmanager
    def connect(self, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A connection with the refresh session's timeouts applied; its backend ends
        soon after this process does, whatever it was doing (``database/liveness.py``)."""
        with psycopg.connect(
            self.url(),
            autocommit=autocommit,
            application_name="soleflip-bi",
            options=f"-c statement_timeout={self.statement_timeout_ms} "
            f"-c lock_timeout={self.lock_timeout_ms} {SESSION_OPTIONS}",
            **CLIENT_KEEPALIVES,
        ) as conn:
            yield conn
