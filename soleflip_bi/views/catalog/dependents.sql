-- The views and materialized views that read %(relation)s, directly or through one another,
-- with what it takes to create each again: how deep it sits (a dependent is created after
-- everything it reads), owner, definition, options, whether it holds data, and comment.
-- Run with search_path = pg_catalog, so that every name in the definitions is qualified.
with recursive reading(oid, depth) as (
    select r.ev_class, 1
    from pg_depend d
    join pg_rewrite r on r.oid = d.objid
    where d.classid = 'pg_rewrite'::regclass
      and d.refclassid = 'pg_class'::regclass
      and d.refobjid = %(relation)s::regclass
      and r.ev_class <> %(relation)s::regclass
    union all
    select r.ev_class, reading.depth + 1
    from reading
    join pg_depend d
      on d.refobjid = reading.oid
     and d.classid = 'pg_rewrite'::regclass
     and d.refclassid = 'pg_class'::regclass
    join pg_rewrite r on r.oid = d.objid
    where r.ev_class <> reading.oid
)
select c.oid,
       n.nspname,
       c.relname,
       c.relkind,
       deepest.depth,
       pg_get_userbyid(c.relowner),
       pg_get_viewdef(c.oid),
       coalesce(c.reloptions, '{}'),
       c.relispopulated,
       obj_description(c.oid, 'pg_class')
from (select oid, max(depth) as depth from reading group by oid) deepest
join pg_class c on c.oid = deepest.oid
join pg_namespace n on n.oid = c.relnamespace
order by deepest.depth, n.nspname, c.relname;
