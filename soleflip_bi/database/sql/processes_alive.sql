-- Which of the given advisory lock names some session of this database holds.
-- pg_locks shows a bigint key as classid (high 32 bits) and objid (low 32 bits), with
-- objsubid = 1; the key is hashtextextended(name, 0), as database/liveness.py takes it.
select key.name
from unnest(%s::text[]) as key(name)
where exists (
    select
    from pg_locks as l
    where l.locktype = 'advisory'
      and l.granted
      and l.objsubid = 1
      and l.database = (select oid from pg_database where datname = current_database())
      and ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(key.name, 0)
)
