"""Which failures a refresh step retries: a connection that may come back, yes; one the
server will never accept as configured, no."""

from __future__ import annotations

import psycopg
import pytest

from soleflip_bi.database.connection import permanent_connection_failure
from soleflip_bi.database.steps import is_transient

PREFIX = 'connection failed: connection to server at "db.example", port 5432 failed: '


@pytest.mark.parametrize(
    ("server_says", "reason"),
    [
        ('FATAL:  database "shop" does not exist', 'database "shop" does not exist'),
        ('FATAL:  role "bi" does not exist', 'role "bi" does not exist'),
        (
            'FATAL:  password authentication failed for user "bi"',
            'password authentication failed for user "bi"',
        ),
        (
            'FATAL:  no pg_hba.conf entry for host "10.0.0.5", user "bi", database "shop"',
            'no pg_hba.conf entry for host "10.0.0.5"',
        ),
    ],
)
def test_a_connection_the_server_refuses_as_configured_is_not_retried(
    server_says: str, reason: str
) -> None:
    error = psycopg.OperationalError(PREFIX + server_says)
    assert permanent_connection_failure(error) == reason
    assert is_transient(error) is False


@pytest.mark.parametrize(
    "message",
    [
        PREFIX + "Connection refused\n\tIs the server running on that host?",
        "consuming input failed: server closed the connection unexpectedly",
        PREFIX + "FATAL:  the database system is starting up",
        PREFIX + "FATAL:  terminating connection due to administrator command",
    ],
)
def test_a_connection_that_may_come_back_is_retried(message: str) -> None:
    error = psycopg.OperationalError(message)
    assert permanent_connection_failure(error) is None
    assert is_transient(error) is True


def test_lock_and_deadlock_errors_are_retried_and_sql_errors_are_not() -> None:
    assert is_transient(psycopg.errors.LockNotAvailable("lock timeout")) is True
    assert is_transient(psycopg.errors.DeadlockDetected("deadlock")) is True
    assert is_transient(psycopg.errors.QueryCanceled("statement timeout")) is False
    assert is_transient(psycopg.errors.DivisionByZero("division by zero")) is False
