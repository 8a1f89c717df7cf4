-- Which of the given advisory lock names some session of this cluster holds, in any of
-- its databases (a run's name is its id, which no other lock shares).
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
      and ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(key.name, 0)
)
