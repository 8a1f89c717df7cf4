"""`soleflip-bi db create-refresh-role ROLE`: refreshing needs no write access to the shop.

Each test connects as the roles themselves (the embedded server trusts loopback, so no
password is needed to log in here): the refresh role builds every view through the real
Dagster definitions but cannot change a source row; the shop's own application role keeps
writing orders (the change-capture triggers run as their owner); Metabase's read-only role
reads what the refresh role builds and writes nothing. Roles are cluster-wide: each test
uses roles of its own and drops them afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from soleflip_bi.cli.main import main
from soleflip_bi.definitions import defs
from soleflip_bi.shared.catalogue import Source
from soleflip_bi.views.dependents import DependentsBlockSwap
from soleflip_bi.views.materialize import RefreshMode, drop_view, materialize_view
from soleflip_bi.views.registry import VIEWS, get_view, views_refreshed_on
from soleflip_bi.views.runs import refresh_views
from soleflip_bi_tests.support.faults import materialize_views, redefined
from soleflip_bi_tests.support.orders import add_sale_orders, insert_sale_orders
from soleflip_bi_tests.support.roles import connect_as, refused
from soleflip_bi_tests.support.shop import stock_shop
from soleflip_bi_tests.support.ticker import Ticker

SOURCE_WRITES = (
    "insert into sales.\"order\" (id, status) values (gen_random_uuid(), 'completed')",
    "update inventory.stock set quantity = quantity + 1",
    "delete from catalog.brand",
    "update supplier.profile set rating = 0",
    "truncate platform.marketplace cascade",
    'alter table sales."order" add column hacked int',
    'drop trigger soleflip_bi_changed on sales."order"',
    "create table sales.hacked (id int)",
)


@pytest.fixture
def shop(scratch_database_url: str) -> str:
    """Demo data, change capture and every view, all installed by the administrator."""
    return stock_shop(scratch_database_url, orders=300, seed=3)


@pytest.fixture
def roles(shop: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    token = uuid.uuid4().hex[:8]
    names = {
        "refresh": f"soleflip_refresh_{token}",
        "app": f"shop_app_{token}",
        "metabase": f"metabase_ro_{token}",
    }
    monkeypatch.setenv("SOLEFLIP_DATABASE_URL", shop)  # the administrator runs the commands
    monkeypatch.setenv("SOLEFLIP_REFRESH_PASSWORD", "refresh-role-password")
    monkeypatch.setenv("SOLEFLIP_READONLY_PASSWORD", "metabase-password")
    yield names
    with psycopg.connect(shop, autocommit=True) as conn:
        present = [
            row[0]
            for row in conn.execute(
                "select rolname from pg_roles where rolname = any(%s)", (list(names.values()),)
            )
        ]
        # One role at a time: DROP OWNED BY of two roles sharing a default-privileges entry
        # (the refresh role's, granting the Metabase role) can delete that entry twice
        # ("could not find tuple for default ACL").
        for name in present:
            conn.execute(sql.SQL("drop owned by {} cascade").format(sql.Identifier(name)))
        for name in present:
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def _revenue(url: str, view: str = "sales_summary_daily") -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        query = sql.SQL("select coalesce(sum(total_revenue), 0) from {}")
        return conn.execute(query.format(sql.Identifier("analytics", view))).fetchone()[0]


def test_the_refresh_role_builds_every_view_and_cannot_write_the_sources(
    shop: str, roles: dict[str, str], instance, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    role = roles["refresh"]
    assert main(["db", "create-refresh-role", role]) == 0
    assert f"role {role} created" in capsys.readouterr().out
    with psycopg.connect(shop) as conn:
        drop_view(conn, get_view("metabase_brand_analytics"))  # so one is created anew
    before = _revenue(shop)
    add_sale_orders(shop, 2, gross=250)

    refresh_url = make_conninfo(shop, user=role)
    monkeypatch.setenv("SOLEFLIP_DATABASE_URL", refresh_url)  # the code location's resource
    result = refresh_views(defs, list(VIEWS), instance)

    assert result.success
    modes = {
        spec.name: result.asset_materializations_for_node(f"refresh_{spec.name}")[0]
        .metadata["refresh_mode"]
        .value
        for spec in VIEWS
    }
    assert modes["metabase_brand_analytics"] == RefreshMode.CREATE
    assert _revenue(shop) == before + 500
    daily = get_view("sales_summary_daily")
    with psycopg.connect(refresh_url) as conn:
        swapped = materialize_view(conn, redefined(daily, "/* v2 */ " + daily.sql))
    assert swapped.mode is RefreshMode.REBUILD
    with connect_as(shop, role) as conn:
        assert conn.execute('select count(*) from sales."order"').fetchone()[0] > 0
        for statement in SOURCE_WRITES:
            assert refused(conn, statement), statement
    with psycopg.connect(shop) as conn:
        stored = conn.execute(
            "select rolsuper, rolcreaterole, rolcreatedb, rolpassword from pg_authid "
            "where rolname = %s",
            (role,),
        ).fetchone()
    assert stored[:3] == (False, False, False)
    assert stored[3].startswith("SCRAM-SHA-256$") and "refresh-role-password" not in stored[3]


def test_the_shops_own_role_still_writes_orders_and_the_sensor_sees_them(
    shop: str, roles: dict[str, str], instance
) -> None:
    """The change-capture triggers insert into soleflip_bi, which the application role has
    no rights on: the trigger functions are SECURITY DEFINER, running as their owner."""
    assert main(["db", "create-refresh-role", roles["refresh"]]) == 0
    app = sql.Identifier(roles["app"])
    with psycopg.connect(shop, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login").format(app))
        conn.execute(sql.SQL("grant usage on schema sales, inventory to {}").format(app))
        conn.execute(
            sql.SQL(
                'grant select, insert, update, delete on sales."order", inventory.stock to {}'
            ).format(app)
        )
    refresh_url = make_conninfo(shop, user=roles["refresh"])
    ticker = Ticker(refresh_url, instance)
    ticker.settle()  # begins after the build
    before = _revenue(shop)

    with connect_as(shop, roles["app"]) as conn:
        [order] = insert_sale_orders(conn, 1, gross=321)
        conn.execute('update sales."order" set platform_fee = 21 where id = %s', (order,))
        conn.execute(
            "update inventory.stock set location = 'B7' where ctid = "
            "(select ctid from inventory.stock limit 1)"
        )
        assert refused(conn, "select * from soleflip_bi.source_change")

    assert len(ticker.settle().run_requests) == 1
    assert materialize_views(views_refreshed_on(Source.ORDERS), refresh_url, instance).success
    assert _revenue(shop) == before + 321
    assert not ticker.settle().run_requests


def test_metabase_reads_what_the_refresh_role_builds_and_writes_nothing(
    shop: str, roles: dict[str, str], capsys
) -> None:
    refresh, metabase = roles["refresh"], roles["metabase"]
    assert main(["db", "grant-readonly", metabase]) == 0
    assert main(["db", "create-refresh-role", refresh]) == 0
    assert "1 default privileges in analytics copied" in capsys.readouterr().out
    recreated, swapped = get_view("supplier_performance_summary"), get_view("sales_summary_daily")
    with psycopg.connect(make_conninfo(shop, user=refresh)) as conn:
        drop_view(conn, recreated)
        assert materialize_view(conn, recreated).mode is RefreshMode.CREATE
        assert materialize_view(conn, redefined(swapped, "/* v2 */ " + swapped.sql)).mode is (
            RefreshMode.REBUILD
        )
    with connect_as(shop, metabase) as conn:
        for spec in VIEWS:
            query = sql.SQL("select count(*) from {}").format(
                sql.Identifier("analytics", spec.name)
            )
            assert conn.execute(query).fetchone()[0] > 0, spec.name
        for statement in (
            "insert into analytics.reporting_setting values ('x', 'y')",
            "delete from analytics.order_facts",
            f"refresh materialized view analytics.{swapped.name}",
            *SOURCE_WRITES[:2],
        ):
            assert refused(conn, statement), statement


def test_without_a_password_no_role_is_created(
    shop: str, roles: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.delenv("SOLEFLIP_REFRESH_PASSWORD")
    assert main(["db", "create-refresh-role", roles["refresh"]]) == 2
    error = capsys.readouterr().err
    assert error.startswith("soleflip-bi: error: set SOLEFLIP_REFRESH_PASSWORD")
    assert len(error.splitlines()) == 1
    with psycopg.connect(shop) as conn:
        found = conn.execute("select 1 from pg_roles where rolname = %s", (roles["refresh"],))
        assert found.fetchone() is None


def test_a_view_of_someone_else_on_top_needs_the_refresh_role_to_hold_its_owners_role(
    shop: str, roles: dict[str, str]
) -> None:
    """The refresh role may drop and own only what its roles own; until it is granted the
    dependent's owner, a redefinition says so in one sentence and changes nothing."""
    role, owner = roles["refresh"], roles["app"]
    assert main(["db", "create-refresh-role", role]) == 0
    with psycopg.connect(shop, autocommit=True) as conn:
        who = sql.Identifier(owner)
        conn.execute(sql.SQL("create role {}").format(who))
        conn.execute(sql.SQL("grant create, usage on schema public to {}").format(who))
        conn.execute(sql.SQL("grant usage on schema analytics to {}").format(who))
        conn.execute(
            sql.SQL("grant select on analytics.metabase_brand_analytics to {}").format(who)
        )
        conn.execute(sql.SQL("set role {}").format(who))
        conn.execute(
            "create view public.brand_mail as "
            "select brand_name from analytics.metabase_brand_analytics"
        )
        conn.execute("reset role")
    spec = get_view("metabase_brand_analytics")
    changed = redefined(spec, "/* v2 */ " + spec.sql)
    refresh_url = make_conninfo(shop, user=role)

    with psycopg.connect(refresh_url) as conn, pytest.raises(DependentsBlockSwap) as failure:
        materialize_view(conn, changed)
    assert str(failure.value) == (
        "cannot replace analytics.metabase_brand_analytics: its dependent view "
        f"public.brand_mail (owner {owner}) could not be dropped: must be owner of view "
        f"brand_mail; grant role {owner} to the role that refreshes the views, or drop "
        "public.brand_mail; nothing was changed"
    )

    with psycopg.connect(shop, autocommit=True) as conn:
        conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(owner), sql.Identifier(role)))
    with psycopg.connect(refresh_url) as conn:
        assert materialize_view(conn, changed).mode is RefreshMode.REBUILD
    with psycopg.connect(shop) as conn:
        owned = conn.execute(
            "select pg_get_userbyid(relowner) from pg_class "
            "where oid = 'public.brand_mail'::regclass"
        ).fetchone()[0]
        assert owned == owner
