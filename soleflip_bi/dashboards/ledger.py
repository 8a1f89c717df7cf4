"""What the last push saw of each managed Metabase object, kept in the shop database.

An object's edit stamp (``remote.edit_stamp``) holds when it was last saved in Metabase and
a hash of what a push writes of it. The push records the stamp each object has once it is
done with it; on the next push, an object saved since and changed in those fields was
edited in Metabase, and the push refuses to overwrite it without ``--force``. An object
with no record (pushed before the ledger existed, or by another shop database) is taken as
not edited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import psycopg

from soleflip_bi.bookkeeping.baseline import ensure_bookkeeping


class LedgerNotWritten(RuntimeError):
    """A push finished in Metabase but could not record what it saw."""


# (model, object id) -> edit stamp
Stamps = dict[tuple[str, int], str]
# (model, object id) -> (its key, its edit stamp): what a push records
Pushed = dict[tuple[str, int], tuple[str, str]]


def recorded_stamps(database_url: str, metabase_url: str) -> Stamps:
    """The stamps recorded for this Metabase; read-only (``dashboards plan`` uses it)."""
    rows = _read(database_url, "model, object_id, edit_stamp", metabase_url)
    return {(model, int(object_id)): stamp for model, object_id, stamp in rows}


def managed_ids(database_url: str, metabase_url: str, model: str) -> dict[str, int]:
    """Key -> id of the objects of ``model`` the last push recorded for this Metabase."""
    rows = _read(database_url, "model, object_key, object_id", metabase_url)
    return {key: int(object_id) for kind, key, object_id in rows if kind == model}


def _read(database_url: str, columns: str, metabase_url: str) -> list[tuple]:
    """``columns`` of this Metabase's records; none before the first push made the table."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        exists = conn.execute("select to_regclass('soleflip_bi.metabase_pushed')").fetchone()
        if not exists or exists[0] is None:
            return []
        query = f"select {columns} from soleflip_bi.metabase_pushed where metabase_url = %s"
        return conn.execute(query, (metabase_url,)).fetchall()  # columns: literals above


def record_stamps(
    database_url: str,
    metabase_url: str,
    pushed: Mapping[tuple[str, int], tuple[str, str]],
    *,
    complete: bool,
    models: tuple[str, ...] = ("card", "dashboard"),
) -> None:
    """Record ``stamps``; ``complete`` (a push that finished) also forgets every object of
    ``models`` not among them, which is no longer managed. A push that stopped part-way
    records what it did, so that its own writes are never taken for edits made in Metabase.

    When the record cannot be written, a finished push says so in one sentence; a push
    that stopped keeps its own error, which says more.
    """
    try:
        _write(database_url, metabase_url, pushed, complete, models)
    except psycopg.Error as exc:
        if complete:
            raise LedgerNotWritten(
                "the push is done in Metabase, but what it saw could not be recorded in "
                f"soleflip_bi.metabase_pushed ({str(exc).strip()}); until a push records "
                "it, the next one takes its own changes for edits made in Metabase"
            ) from exc


def _write(
    database_url: str,
    metabase_url: str,
    pushed: Mapping[tuple[str, int], tuple[str, str]],
    complete: bool,
    models: tuple[str, ...],
) -> None:
    with psycopg.connect(database_url) as conn:
        ensure_bookkeeping(conn)
        if complete:  # the dashboards' push and the metadata push each forget their own
            conn.execute(
                "delete from soleflip_bi.metabase_pushed "
                "where metabase_url = %s and model = any(%s)",
                (metabase_url, list(models)),
            )
        with conn.cursor() as cursor:
            cursor.executemany(
                "insert into soleflip_bi.metabase_pushed (metabase_url, model, object_id, "
                "object_key, edit_stamp) values (%s, %s, %s, %s, %s) on conflict "
                "(metabase_url, model, object_id) do update set object_key = "
                "excluded.object_key, edit_stamp = excluded.edit_stamp, pushed_at = now()",
                _rows(metabase_url, pushed.items()),
            )


def _rows(metabase_url: str, pushed: Iterable[tuple[tuple[str, int], tuple[str, str]]]):
    for (model, object_id), (key, stamp) in sorted(pushed):
        yield metabase_url, model, object_id, key, stamp
