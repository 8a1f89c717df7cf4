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

-- Units of the reporting currency per unit of the order's currency (fixed rates).
-- An order in a currency with no row here is rejected and counted, never guessed.
create table if not exists analytics.currency_rate (
    currency_code        text primary key,
    rate_to_reporting    numeric(18, 8) not null check (rate_to_reporting > 0)
);
insert into analytics.currency_rate (currency_code, rate_to_reporting)
values ('EUR', 1.0), ('USD', 0.92592593), ('GBP', 1.16279070), ('CHF', 1.05263158)
on conflict (currency_code) do nothing;

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
