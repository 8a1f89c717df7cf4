"""`soleflip-bi db grant-readonly ROLE`: Metabase's role reads ``analytics`` and nothing else.

Each test connects as the role itself (the embedded server trusts loopback connections,
so no password is needed to log in here) and checks what it can and cannot do. Roles are
cluster-wide: every test uses a role of its own and drops it afterwards.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from soleflip_bi.cli.main import main
from soleflip_bi.views.materialize import RefreshMode, drop_view, materialize_view
from soleflip_bi.views.registry import VIEWS, Index, get_view
from soleflip_bi_tests.support.roles import connect_as, refused
from soleflip_bi_tests.support.shop import stock_shop

PASSWORD = "metabase-reads-only"


@pytest.fixture
def shop(scratch_database_url: str, use_database) -> str:
    return use_database(stock_shop(scratch_database_url, orders=300, seed=3))


@pytest.fixture
def role(shop: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"metabase_ro_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("SOLEFLIP_READONLY_PASSWORD", PASSWORD)
    yield name
    with psycopg.connect(shop, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
        if exists:
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def test_the_role_reads_every_view_and_nothing_else(shop: str, role: str, capsys) -> None:
    assert main(["db", "grant-readonly", role]) == 0
    output = capsys.readouterr().out
    assert f"role {role} created" in output
    assert "nothing on catalog, inventory, platform, sales, supplier, soleflip_bi" in output

    with connect_as(shop, role) as conn:
        for spec in VIEWS:
            count = conn.execute(
                sql.SQL("select count(*) from {}").format(sql.Identifier("analytics", spec.name))
            ).fetchone()[0]
            assert count > 0, spec.name
        assert conn.execute("select count(*) from analytics.order_facts").fetchone()[0] > 0
        for statement in (
            'select * from sales."order" limit 1',
            "select * from inventory.stock limit 1",
            "select * from catalog.product limit 1",
            "select * from soleflip_bi.refresh_log limit 1",
            "create table analytics.scratch (id int)",
            "insert into analytics.reporting_setting values ('x', 'y')",
            "update analytics.classification_threshold set value = 0",
            "refresh materialized view analytics.sales_summary_daily",
            "drop materialized view analytics.sales_summary_daily",
        ):
            assert refused(conn, statement), statement


def test_the_password_is_stored_as_a_scram_verifier(shop: str, role: str) -> None:
    assert main(["db", "grant-readonly", role]) == 0
    with psycopg.connect(shop) as conn:
        stored = conn.execute(
            "select rolcanlogin, rolpassword from pg_authid where rolname = %s", (role,)
        ).fetchone()
    assert stored[0] is True
    assert stored[1].startswith("SCRAM-SHA-256$") and PASSWORD not in stored[1]


def test_views_rebuilt_or_created_later_stay_readable(shop: str, role: str) -> None:
    assert main(["db", "grant-readonly", role]) == 0
    spec = get_view("sales_summary_daily")
    changed = dataclasses.replace(spec, indexes=(*spec.indexes, Index("idx_extra", ("sale_date",))))
    recreated = get_view("supplier_performance_summary")
    with psycopg.connect(shop) as conn:
        assert materialize_view(conn, changed).mode is RefreshMode.REBUILD  # swapped in
        drop_view(conn, recreated)
        assert materialize_view(conn, recreated).mode is RefreshMode.CREATE  # brand new
    with connect_as(shop, role) as conn:
        for name in (spec.name, recreated.name):
            query = sql.SQL("select count(*) from {}").format(sql.Identifier("analytics", name))
            assert conn.execute(query).fetchone()[0] > 0


def test_running_it_again_updates_the_role_and_revokes_stray_grants(
    shop: str, role: str, capsys
) -> None:
    assert main(["db", "grant-readonly", role]) == 0
    with psycopg.connect(shop, autocommit=True) as conn:
        conn.execute(sql.SQL("grant usage on schema sales to {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL('grant select on sales."order" to {}').format(sql.Identifier(role)))
    assert main(["db", "grant-readonly", role]) == 0
    assert f"role {role} updated" in capsys.readouterr().out
    with connect_as(shop, role) as conn:
        assert refused(conn, 'select * from sales."order" limit 1')
        assert conn.execute("select count(*) from analytics.sales_summary_daily").fetchone()[0]


def test_without_a_password_nothing_is_created(
    shop: str, role: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.delenv("SOLEFLIP_READONLY_PASSWORD")
    assert main(["db", "grant-readonly", role]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("soleflip-bi: error: set SOLEFLIP_READONLY_PASSWORD")
    with psycopg.connect(shop) as conn:
        assert conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone() is None


@pytest.mark.usefixtures("role")
def test_the_administrator_itself_is_refused(shop: str, capsys) -> None:
    assert main(["db", "grant-readonly", "postgres"]) == 2
    assert "is the user running this command" in capsys.readouterr().err
