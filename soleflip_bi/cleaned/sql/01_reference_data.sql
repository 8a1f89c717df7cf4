-- Reference data of the cleaned layer: every business rule the views share, as data.
-- Edit the rows here (and materialize analytics/cleaned_layer) to change a rule everywhere.

create schema if not exists analytics;

-- Reporting currency and time zone. The time zone row is kept equal to SOLEFLIP_TIMEZONE
-- by the cleaned-layer asset.
create table if not exists analytics.reporting_setting (
    name  text primary key,
    value text not null
);
insert into analytics.reporting_setting (name, value)
values ('reporting_currency', 'EUR'), ('timezone', 'Europe/Berlin')
on conflict (name) do nothing;

-- Euro reference rates by day: units of the currency per euro, as the European Central
-- Bank quotes them. A sale takes the last rate on or before its sale date in the shop's
-- time zone (a Saturday takes Friday's); EUR, the reporting currency, needs no rate. An
-- order in a currency with no rate on or before its date is rejected, never guessed.
-- Loaded from ECB's shipped history on set-up and by `soleflip-bi rates load FILE`.
-- An older release's table of one fixed rate per currency is upgraded before this file
-- runs, keeping the shop's own rates (cleaned/rates_upgrade.py).
create table if not exists analytics.currency_rate (
    currency  text not null check (currency ~ '^[A-Z]{3}$' and currency <> 'EUR'),
    rate_date date not null,
    rate      numeric not null check (rate > 0),
    source    text not null,
    loaded_at timestamptz not null default now(),
    primary key (currency, rate_date)
);

-- The rate of every day, spread from the rates above so that a sale finds its rate with one
-- equality join (a lookup per order would keep PostgreSQL from pushing filters on orders
-- through the cleaned views): a row per currency and calendar day from its first rate to its
-- last, holding the last rate on or before that day; after the last day, the latest rate.
-- Both are kept by the trigger below, for the currencies a statement changed.
create table if not exists analytics.currency_rate_day (
    currency  text not null,
    day       date not null,
    rate      numeric not null,
    rate_date date not null,
    primary key (currency, day)
);
create table if not exists analytics.currency_rate_latest (
    currency  text primary key,
    rate      numeric not null,
    rate_date date not null
);

create or replace function analytics.spread_rates(currencies text[]) returns void
language sql security definer set search_path = pg_catalog, pg_temp as $$
    delete from analytics.currency_rate_day
    where currencies is null or currency = any(currencies);
    delete from analytics.currency_rate_latest
    where currencies is null or currency = any(currencies);
    insert into analytics.currency_rate_day (currency, day, rate, rate_date)
    select r.currency, d.day::date, r.rate, r.rate_date
    from (select currency, rate_date, rate,
                 lead(rate_date) over (partition by currency order by rate_date) as next_date
          from analytics.currency_rate
          where currencies is null or currency = any(currencies)) r
    cross join lateral generate_series(r.rate_date, coalesce(r.next_date - 1, r.rate_date),
                                       interval '1 day') as d(day);
    insert into analytics.currency_rate_latest (currency, rate, rate_date)
    select distinct on (currency) currency, rate, rate_date from analytics.currency_rate
    where currencies is null or currency = any(currencies)
    order by currency, rate_date desc;
$$;
revoke all on function analytics.spread_rates(text[]) from public;
do $$
begin
    if not exists (select from analytics.currency_rate_latest)
       and exists (select from analytics.currency_rate) then
        perform analytics.spread_rates(null);
    end if;
end
$$;

-- Which rates changed, so the stored facts re-convert only the sales they apply to
-- (cleaned/facts.py). A statement that changes no rate logs nothing.
create schema if not exists soleflip_bi;
create table if not exists soleflip_bi.changed_rate (
    xid        xid8 not null default pg_current_xact_id(),
    currency   text not null,
    rate_date  date not null,
    changed_at timestamptz not null default clock_timestamp()
);
create index if not exists changed_rate_xid_idx on soleflip_bi.changed_rate (xid);

create or replace function analytics.record_changed_rates() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    changed bigint;
begin
    -- One writer of rates at a time (cleaned/rates.py load_rates): the spread below
    -- deletes and re-inserts a currency's days, which two writers at once would collide on.
    perform pg_advisory_xact_lock(hashtextextended('soleflip_bi:currency_rate', 0));
    if tg_op = 'INSERT' then
        insert into soleflip_bi.changed_rate (currency, rate_date)
        select currency, rate_date from new_rates;
    elsif tg_op = 'DELETE' then
        insert into soleflip_bi.changed_rate (currency, rate_date)
        select currency, rate_date from old_rates;
    elsif tg_op = 'UPDATE' then  -- only the rows whose day or rate changed
        insert into soleflip_bi.changed_rate (currency, rate_date)
        select currency, rate_date from (
            (select currency, rate_date, rate from new_rates
             except select currency, rate_date, rate from old_rates)
            union
            (select currency, rate_date, rate from old_rates
             except select currency, rate_date, rate from new_rates)) as moved;
    end if;
    get diagnostics changed = row_count;
    if tg_op = 'TRUNCATE' then
        perform analytics.spread_rates(null);
    elsif changed > 0 then
        perform analytics.spread_rates(array(
            select distinct currency from soleflip_bi.changed_rate
            where xid = pg_current_xact_id()));
    end if;
    if (changed > 0 or tg_op = 'TRUNCATE') and to_regclass('soleflip_bi.source_change') is not null then
        insert into soleflip_bi.source_change (source, operation) values ('rates', tg_op);
    end if;
    return null;
end
$$;
revoke all on function analytics.record_changed_rates() from public;
drop trigger if exists currency_rate_inserted on analytics.currency_rate;
drop trigger if exists currency_rate_updated on analytics.currency_rate;
drop trigger if exists currency_rate_deleted on analytics.currency_rate;
drop trigger if exists currency_rate_truncated on analytics.currency_rate;
create trigger currency_rate_inserted after insert on analytics.currency_rate
    referencing new table as new_rates
    for each statement execute function analytics.record_changed_rates();
create trigger currency_rate_updated after update on analytics.currency_rate
    referencing old table as old_rates new table as new_rates
    for each statement execute function analytics.record_changed_rates();
create trigger currency_rate_deleted after delete on analytics.currency_rate
    referencing old table as old_rates
    for each statement execute function analytics.record_changed_rates();
create trigger currency_rate_truncated after truncate on analytics.currency_rate
    for each statement execute function analytics.record_changed_rates();

-- What an order status means. Matching is case- and whitespace-insensitive.
-- is_sale: the order counts as a sale. Statuses not listed are rejected as unknown.
create table if not exists analytics.order_status (
    status  text primary key check (status = lower(btrim(status))),
    is_sale boolean not null
);
insert into analytics.order_status (status, is_sale)
values ('completed', true), ('shipped', true), ('delivered', true), ('paid', true),
       ('pending', false), ('cancelled', false), ('canceled', false), ('refunded', false),
       ('returned', false), ('failed', false)
on conflict (status) do nothing;

-- What a stock status means: in_stock items count towards stock value and aging.
create table if not exists analytics.stock_status (
    status   text primary key check (status = lower(btrim(status))),
    in_stock boolean not null
);
insert into analytics.stock_status (status, in_stock)
values ('available', true), ('reserved', true), ('listed', true), ('consigned', true),
       ('sold', false), ('shipped', false), ('returned_to_supplier', false), ('lost', false)
on conflict (status) do nothing;

-- Classification thresholds used by the gold views (one place, documented in the README).
create table if not exists analytics.classification_threshold (
    name        text primary key,
    value       numeric not null,
    description text not null
);
insert into analytics.classification_threshold (name, value, description)
values
  ('premium_min_avg_price', 250, 'brand avg sale price (EUR) at or above which it is Premium'),
  ('mid_range_min_avg_price', 120, 'brand avg sale price (EUR) at or above which it is Mid-Range'),
  ('high_volume_min_sales_share_pct', 10, 'brand share of units sold (%) for volume tier High'),
  ('medium_volume_min_sales_share_pct', 2, 'brand share of units sold (%) for volume tier Medium'),
  ('dead_stock_min_days', 180, 'days in stock above which an item is Dead Stock'),
  ('slow_moving_min_days', 90, 'days in stock above which an item is Slow Moving'),
  ('normal_min_days', 30, 'days in stock above which an item is Normal (else Fast Moving)')
on conflict (name) do nothing;

-- The Unknown member of every dimension: a missing brand, category, supplier, platform,
-- product or size maps here, so no join ever drops revenue.
create or replace function analytics.unknown_id() returns uuid
language sql immutable parallel safe
as $$ select '00000000-0000-0000-0000-000000000000'::uuid $$;

-- Names as people wrote them (buyer city and country). A name is trimmed and its inner
-- whitespace collapsed (clean_name); names are grouped on a key that is also Unicode
-- NFC-normalised and lower-cased with Unicode case rules (name_key); a group is shown with
-- its most frequent spelling. Accents are significant (Genève and Geneve stay two rows):
-- removing them would merge names that are different words in some languages.
-- Case rules come from an explicit collation, never from the database's locale, so every
-- database gives the same groups: pg_c_utf8 (PostgreSQL 17+), else ICU's und-x-icu; only a
-- server with neither falls back to its own locale (a NOTICE says so).
create or replace function analytics.clean_name(name text) returns text
language sql immutable parallel safe
as $$
    select nullif(regexp_replace(regexp_replace(name collate "C", '[\s\u00a0\u3000]+', ' ', 'g'),
                                 '^ | $', '', 'g'), '')
$$;

do $do$
declare
    unicode_collation text := case
        when exists (select from pg_collation where collname = 'pg_c_utf8') then 'pg_c_utf8'
        when exists (select from pg_collation
                     where collname = 'und-x-icu'
                       and collencoding in (-1, pg_char_to_encoding('UTF8'))) then 'und-x-icu'
    end;
    utf8 boolean := pg_encoding_to_char(
        (select encoding from pg_database where datname = current_database())) = 'UTF8';
    subject text := case when utf8 then 'normalize(analytics.clean_name(name), NFC)'
                         else 'analytics.clean_name(name)' end;
    folded text := coalesce(format('%s collate %I', subject, unicode_collation), subject);
begin
    if unicode_collation is null or not utf8 then
        raise notice 'analytics.name_key: no Unicode collation (pg_c_utf8, und-x-icu) or no '
                     'UTF-8 encoding here; names are case-folded with the database locale';
    end if;
    execute format($f$
        create or replace function analytics.name_key(name text) returns text
        language sql immutable parallel safe
        as 'select lower(%1$s)'$f$, replace(folded, '''', ''''''));
    -- How a spelling is written: 0 mixed case (as names are written), 1 all capitals,
    -- 2 all lower case or no letters. The display spelling of a group is its most frequent
    -- one; ties go to the lower rank, then to the first in byte order.
    execute format($f$
        create or replace function analytics.name_style(name text) returns int
        language sql immutable parallel safe
        as 'select case when upper(%1$s) = lower(%1$s) then 2
                        when %1$s = upper(%1$s) then 1
                        when %1$s = lower(%1$s) then 2
                        else 0 end'$f$, replace(folded, '''', ''''''));
end
$do$;
