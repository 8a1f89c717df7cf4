"""A refresh that cannot reach its database says so in one sentence, before any run."""

from __future__ import annotations

import uuid

import dagster as dg
import pytest

from soleflip_bi.cli.main import main
from soleflip_bi.database.embedded import default_server


@pytest.mark.parametrize("where", ["unknown_database", "closed_port"])
def test_refresh_against_an_unreachable_database_fails_at_once_in_one_line(
    where: str, instance: dg.DagsterInstance, use_database, capsys
) -> None:
    server = default_server()
    server.ensure_running()
    name = f"missing_{uuid.uuid4().hex[:8]}"
    url = (
        server.url(name)
        if where == "unknown_database"
        else "postgresql://postgres@127.0.0.1:9/shop"
    )
    use_database(url)

    status = main(["views", "refresh", "--all"])

    out, err = capsys.readouterr()
    expected = {
        "unknown_database": f"cannot connect to the shop database {name} at 127.0.0.1:"
        f'{server.port}: database "{name}" does not exist',
        "closed_port": "cannot connect to the shop database shop at 127.0.0.1:9: the server "
        "refused the connection (is PostgreSQL running there?)",
    }[where]
    assert (status, out, err) == (2, "", f"soleflip-bi: error: {expected}\n")
    assert instance.get_runs_count() == 0  # nothing ran, nothing was recorded as failed
