"""What every refresh step shares: one pool, retries of transient errors, carried checks.

A step that finds nothing changed still reports its checks, so that no check is ever left
"not evaluated" by a run: it carries the last evaluation of the same check forward, with
metadata that says so (``carried_from_run``, ``carried_because``). The data the check
judged is the data that is still there, so re-running it would only cost time.
"""

from __future__ import annotations

import dagster as dg
import psycopg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from soleflip_bi.database.connection import permanent_connection_failure

# Every step that writes in analytics runs in this pool (dagster.yaml sets its limit).
REFRESH_POOL = "analytics_refresh"

MAX_TRANSIENT_RETRIES = 4
FIRST_RETRY_DELAY_SECONDS = 5
EVALUATED = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}


def is_transient(error: BaseException) -> bool:
    """Errors worth retrying: the connection went away or a lock could not be had in time.

    SQL errors (bad definitions, constraint problems, statement timeouts) fail at once, and
    so does a connection the server will never accept as configured (unknown database or
    role, failed authentication).
    """
    return isinstance(error, psycopg.errors.LockNotAvailable | psycopg.errors.DeadlockDetected) or (
        isinstance(error, psycopg.OperationalError)
        and not isinstance(error, psycopg.errors.QueryCanceled)
        and permanent_connection_failure(error) is None
    )


def retry_if_transient(context: dg.AssetExecutionContext, error: psycopg.Error) -> None:
    """Ask Dagster to run the step again later when ``error`` is transient (with back-off);
    return when it is not, so that the caller re-raises it."""
    if is_transient(error) and context.retry_number < MAX_TRANSIENT_RETRIES:
        delay = FIRST_RETRY_DELAY_SECONDS * 2**context.retry_number
        context.log.warning(f"transient error, retrying in {delay} s: {error}")
        raise dg.RetryRequested(max_retries=MAX_TRANSIENT_RETRIES, seconds_to_wait=delay) from error


def carried_check(
    context: dg.AssetExecutionContext, key: dg.AssetCheckKey, because: str
) -> dg.AssetCheckResult | None:
    """The last evaluation of ``key`` reported again, or None when there is none."""
    history = context.instance.event_log_storage.get_asset_check_execution_history(
        key, limit=1, status=EVALUATED
    )
    evaluation = history[0].evaluation if history else None
    if evaluation is None:
        return None
    return dg.AssetCheckResult(
        check_name=key.name,
        asset_key=key.asset_key,
        passed=evaluation.passed,
        severity=evaluation.severity,
        metadata={
            **evaluation.metadata,
            "carried_from_run": history[0].run_id,
            "carried_because": because,
        },
    )
