"""Views of anyone's on top of an analytics view survive its redefinition, as they were.

A plain view and a materialized view, owned by another role, with comments, privileges and
an index, read an analytics view; a definition change swaps the view in and creates them
again in the same transaction, while a reader keeps reading the plain one. A definition
that no longer fits a dependent fails the swap with one sentence and changes nothing.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from soleflip_bi.views.dependents import DependentsBlockSwap
from soleflip_bi.views.materialize import RefreshMode, materialize_view, view_columns
from soleflip_bi.views.registry import get_view
from soleflip_bi_tests.support.faults import redefined
from soleflip_bi_tests.support.readers import reading_throughout
from soleflip_bi_tests.support.shop import stock_shop

BRAND = "metabase_brand_analytics"


@pytest.fixture
def shop(scratch_database_url: str) -> Iterator[tuple[str, str, str]]:
    """A small shop, an owner role and a reader role of the dependents (dropped after)."""
    url = stock_shop(scratch_database_url, orders=300, seed=11)
    owner, reader = (f"{who}_{uuid.uuid4().hex[:8]}" for who in ("alice", "bob"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"create role {owner}")
        conn.execute(f"create role {reader}")
        conn.execute(f"grant usage on schema analytics to {owner}, {reader}")
        conn.execute(f"grant select on analytics.{BRAND} to {owner}")
        conn.execute(f"grant create, usage on schema public to {owner}")
    yield url, owner, reader
    with psycopg.connect(url, autocommit=True) as conn:
        for role in (owner, reader):
            conn.execute(f"drop owned by {role}")
            conn.execute(f"drop role {role}")


def _dependents(conn: psycopg.Connection, owner: str, reader: str) -> None:
    conn.execute(
        f"""
        create view public.my_brand_report with (security_barrier = true) as
            select brand_name, total_revenue from analytics.{BRAND};
        alter view public.my_brand_report owner to {owner};
        comment on view public.my_brand_report is 'brands for the weekly mail';
        comment on column public.my_brand_report.brand_name is 'as the catalogue spells it';
        grant select on public.my_brand_report to {reader};
        create materialized view public.my_top_brands as
            select brand_name, total_revenue from public.my_brand_report
            order by total_revenue desc limit 5;
        create unique index my_top_brands_name on public.my_top_brands (brand_name);
        alter materialized view public.my_top_brands owner to {owner};
        grant select on public.my_top_brands to {reader} with grant option;
        """
    )


def _described(conn: psycopg.Connection, name: str) -> dict[str, object]:
    """What a DBA would look at: kind, owner, options, comments, privileges, indexes."""
    relation = f"public.{name}"
    row = conn.execute(
        "select relkind, pg_get_userbyid(relowner), reloptions, relispopulated, "
        "obj_description(oid, 'pg_class'), relacl::text[] from pg_class where oid = %s::regclass",
        (relation,),
    ).fetchone()
    columns = conn.execute(
        "select attname, col_description(attrelid, attnum) from pg_attribute "
        "where attrelid = %s::regclass and attnum > 0 order by attnum",
        (relation,),
    ).fetchall()
    indexes = conn.execute(
        "select indexname, indexdef from pg_indexes where schemaname = 'public' and tablename = %s",
        (name,),
    ).fetchall()
    return {"class": row, "columns": columns, "indexes": indexes}


def _reads_the_live_view(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute(
        "select exists (select from pg_depend d join pg_rewrite r on r.oid = d.objid "
        "where r.ev_class = %s::regclass and d.refobjid = %s::regclass)",
        (f"public.{name}", f"analytics.{BRAND}"),
    ).fetchone()[0]


def test_views_on_top_are_created_again_as_they_were_while_a_reader_reads(shop) -> None:
    url, owner, reader = shop
    spec = get_view(BRAND)
    changed = dataclasses.replace(
        spec, indexes=(*spec.indexes, dataclasses.replace(spec.indexes[0], name="idx_extra"))
    )
    with psycopg.connect(url, autocommit=True) as conn:
        _dependents(conn, owner, reader)
        before = {name: _described(conn, name) for name in ("my_brand_report", "my_top_brands")}
        top_before = conn.execute("select * from public.my_top_brands order by 1").fetchall()

    with reading_throughout(url, "public.my_brand_report") as reading, psycopg.connect(url) as conn:
        modes = [materialize_view(conn, s).mode for s in (changed, spec, changed)]

    assert modes == [RefreshMode.REBUILD] * 3
    assert reading.errors == [] and reading.reads > 10
    with psycopg.connect(url) as conn:
        after = {name: _described(conn, name) for name in before}
        assert after == before
        assert before["my_brand_report"]["class"][1] == owner
        assert before["my_brand_report"]["class"][2] == ["security_barrier=true"]
        assert before["my_top_brands"]["class"][3] is True  # populated
        assert any(f"{reader}=r*/" in acl for acl in after["my_top_brands"]["class"][5])
        assert _reads_the_live_view(conn, "my_brand_report")
        assert conn.execute("select * from public.my_top_brands order by 1").fetchall() == (
            top_before
        )
        assert (
            conn.execute(
                "select count(*) from pg_class where relname like %s", ("%__build%",)
            ).fetchone()[0]
            == 0
        )


def test_a_definition_that_breaks_a_dependent_fails_in_one_sentence_and_changes_nothing(
    shop,
) -> None:
    url, owner, reader = shop
    spec = get_view(BRAND)
    with psycopg.connect(url, autocommit=True) as conn:
        _dependents(conn, owner, reader)
        kept = [name for name, _type in view_columns(conn, BRAND) if name != "total_revenue"]
    original = spec.sql.strip().rstrip(";")
    without_revenue = f"select {', '.join(kept)} from ({original}) as original"
    unindexed = dataclasses.replace(
        spec, indexes=tuple(i for i in spec.indexes if "total_revenue" not in i.columns)
    )
    changed = redefined(unindexed, without_revenue)
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(f"select * from analytics.{BRAND} order by 1").fetchall()
        logged = conn.execute("select count(*) from soleflip_bi.refresh_log").fetchone()[0]

    with psycopg.connect(url) as conn, pytest.raises(DependentsBlockSwap) as failure:
        materialize_view(conn, changed)

    assert str(failure.value) == (
        f"cannot replace analytics.{BRAND}: its dependent view public.my_brand_report "
        f'(owner {owner}) could not be created again: column "total_revenue" does not exist; '
        "the new definition does not fit it: change or drop public.my_brand_report, then "
        "refresh again; nothing was changed"
    )
    with psycopg.connect(url) as conn:
        assert conn.execute(f"select * from analytics.{BRAND} order by 1").fetchall() == rows
        assert conn.execute("select count(*) from soleflip_bi.refresh_log").fetchone()[0] == logged
        assert _reads_the_live_view(conn, "my_brand_report")
        assert conn.execute("select count(*) from public.my_top_brands").fetchone()[0] == 5
