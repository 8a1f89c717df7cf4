-- Demo data of the shop's shape, generated set-based and deterministically.
-- Parameters come from settings made by the loader: soleflip_demo.seed, soleflip_demo.orders.
-- Randomness is a hash of (row number, salt, seed), so a seed always gives the same rows and,
-- unlike random(), it stays deterministic under parallel query.
-- Each "-- step:" line starts a unit the loader runs and reports progress for.

-- step: helpers
create schema if not exists soleflip_demo;
-- Kinds of id: 1 platform, 2 category, 3 size, 4 brand, 5 product, 6 supplier, 7 stock,
-- 8 order.
-- The seed is folded into the helpers' bodies so that they stay immutable and are
-- inlined by the planner (a setting lookup per call would cost more than the data).
do $do$
declare
    seed constant bigint := current_setting('soleflip_demo.seed')::bigint;
begin
    execute format($f$
        create or replace function soleflip_demo.rnd(n bigint, salt bigint)
        returns double precision language sql immutable parallel safe
        as 'select (hashint8extended(n, salt * 7919 + %s) & 2147483647)::double precision
                   / 2147483648.0'$f$, seed);
    -- ids: 8 hashed bytes + the row number, unique per kind and cheap to compute
    execute format($f$
        create or replace function soleflip_demo.id(kind int, n bigint)
        returns uuid language sql immutable parallel safe
        as 'select encode(int8send(n) || int8send(hashint8extended(n, kind * 104729 + %s)),
                          ''hex'')::uuid'$f$, seed);
end
$do$;
create or replace function soleflip_demo.pick(options text[], u double precision) returns text
language sql immutable parallel safe
as $$ select options[1 + floor(u * cardinality(options))::int] $$;

-- When order n was sold: never after the load. About 20 % fall in the holiday season
-- (26 November to 4 January) of one of the last three years, the rest anywhere in the last
-- three years; an order of today is sold between midnight and now.
create or replace function soleflip_demo.sale_days_ago(n bigint) returns int
language sql stable parallel safe
as $$
    select case when soleflip_demo.rnd(n, 86) < 0.2
                then 365 * floor(3 * soleflip_demo.rnd(n, 87))::int
                     + ((extract(doy from now())::int - 330
                         - floor(40 * soleflip_demo.rnd(n, 88))::int) % 365 + 365) % 365
                else floor(3 * 365 * power(soleflip_demo.rnd(n, 89), 1.3))::int end
$$;
create or replace function soleflip_demo.sold_at(n bigint) returns timestamptz
language sql stable parallel safe
as $$
    select date_trunc('day', now()) - make_interval(days => soleflip_demo.sale_days_ago(n))
           + make_interval(secs => floor(soleflip_demo.rnd(n, 94)
               * case when soleflip_demo.sale_days_ago(n) = 0
                      then extract(epoch from now() - date_trunc('day', now()))
                      else 86400 end))
$$;

-- step: reference data
insert into platform.marketplace (id, name, slug)
select soleflip_demo.id(1, n), p.name, p.slug
from unnest(array['StockX', 'eBay', 'GOAT', 'Alias', 'Restocks'],
            array['stockx', 'ebay', 'goat', 'alias', 'restocks']) with ordinality as p(name, slug, n);

insert into catalog.category (id, name)
select soleflip_demo.id(2, n), c.name
from unnest(array['Sneakers', 'Basketball', 'Running', 'Lifestyle', 'Skateboarding', 'Apparel',
                  'Accessories', 'Boots']) with ordinality as c(name, n);

insert into catalog.size_master (id, us_size, eu_size)
select soleflip_demo.id(3, n), to_char(3.5 + n * 0.5, 'FM90.0'),
       to_char(35.5 + n * 0.75, 'FM90.0')
from generate_series(1, 20) as n;

insert into catalog.brand (id, name, segment, price_tier, target_demographic, is_collaboration)
select soleflip_demo.id(4, n),
       coalesce(named.name, 'Label ' || n),
       soleflip_demo.pick(array['Performance', 'Lifestyle', 'Streetwear', 'Luxury', 'Outdoor'],
                          soleflip_demo.rnd(n, 11)),
       case when n in (16, 17, 18, 19) or soleflip_demo.rnd(n, 12) < 0.15 then 'Premium'
            when soleflip_demo.rnd(n, 12) < 0.6 then 'Mid' else 'Budget' end,
       soleflip_demo.pick(array['Men', 'Women', 'Unisex', 'Youth'], soleflip_demo.rnd(n, 13)),
       n in (14, 15, 20, 21)
from generate_series(1, 65) as n
left join unnest(array['Nike', 'Jordan', 'adidas', 'New Balance', 'Yeezy', 'ASICS', 'Puma',
                       'Converse', 'Vans', 'Reebok', 'Salomon', 'On', 'Hoka',
                       'Travis Scott x Jordan', 'Off-White x Nike', 'Balenciaga', 'Prada',
                       'Fear of God', 'Dior', 'sacai x Nike', 'Bad Bunny x adidas', 'Crocs',
                       'UGG', 'Timberland', 'Birkenstock'])
     with ordinality as named(name, i) on named.i = n;

update catalog.brand child
set parent_brand_id = soleflip_demo.id(4, case when child.name like '%adidas' then 3
                                                     when child.name like '%Jordan' then 2
                                                     else 1 end)
where child.is_collaboration;

insert into catalog.product (id, sku, style_code, name, brand_id, category_id, retail_price)
select soleflip_demo.id(5, n),
       'SF-' || lpad(n::text, 6, '0'),
       case when soleflip_demo.rnd(n, 21) < 0.9
            then upper(substr(md5('style' || n), 1, 6)) || '-' || (100 + n % 900) end,
       b.name || ' ' || soleflip_demo.pick(array['Air', 'Dunk', 'Retro', 'Boost', 'Gel', 'Classic',
                                                 'Runner', 'Low', 'High', 'Mid'],
                                           soleflip_demo.rnd(n, 22))
              || ' ' || soleflip_demo.pick(array['Panda', 'Bred', 'Triple White', 'Sail', 'Olive',
                                                 'University Blue', 'Chicago', 'Black Cat', 'Mocha'],
                                           soleflip_demo.rnd(n, 23)) || ' #' || n,
       b.id,
       -- about 2 % of products were imported without a category
       case when soleflip_demo.rnd(n, 24) < 0.02 then null
            else soleflip_demo.id(2, 1 + floor(power(soleflip_demo.rnd(n, 25), 1.6) * 8)::int) end,
       round((case b.price_tier when 'Premium' then 260 when 'Mid' then 140 else 80 end
              * (0.7 + 0.6 * soleflip_demo.rnd(n, 26)))::numeric, 2)
from generate_series(1, 712) as n
join catalog.brand b
  on b.id = soleflip_demo.id(4, 1 + floor(power(soleflip_demo.rnd(n, 20), 2.2) * 65)::int);

insert into supplier.profile (id, name, email, phone, country, rating)
select soleflip_demo.id(6, n),
       soleflip_demo.pick(array['Sneaker', 'Kicks', 'Sole', 'Hype', 'Street', 'Retro'],
                          soleflip_demo.rnd(n, 31))
         || ' ' || soleflip_demo.pick(array['Supply', 'Traders', 'Outlet', 'Vault', 'Depot'],
                                      soleflip_demo.rnd(n, 32)) || ' ' || n,
       'orders@supplier' || n || '.example',
       '+49 30 ' || (1000000 + n * 7919),
       soleflip_demo.pick(array['DE', 'DE', 'DE', 'NL', 'FR', 'IT', 'PL', 'GB'], soleflip_demo.rnd(n, 33)),
       round((2.5 + 2.5 * soleflip_demo.rnd(n, 34))::numeric, 2)
from generate_series(1, 20) as n;

-- step: stock items
-- Stock item i (i <= orders) is the one order i sold; the rest is still on hand.
insert into inventory.stock (id, product_id, size_id, supplier_id, quantity, status, condition,
                             color, location, purchase_price, gross_purchase_price, vat_amount,
                             purchase_date, created_at, updated_at)
select soleflip_demo.id(7, s.n),
       soleflip_demo.id(5, s.product_no),
       case when soleflip_demo.rnd(s.n, 41) < 0.01 then null
            else soleflip_demo.id(3, 1 + floor(soleflip_demo.rnd(s.n, 42) * 20)::int) end,
       -- about 5 % of stock has no recorded supplier
       case when soleflip_demo.rnd(s.n, 43) < 0.05 then null
            else soleflip_demo.id(6, 1 + floor(power(soleflip_demo.rnd(s.n, 44), 1.5) * 20)::int) end,
       case when soleflip_demo.rnd(s.n, 45) < 0.002 then -1 else 1 end,
       case when s.sold then soleflip_demo.pick(array['sold', 'SOLD', 'Sold', 'sold '], soleflip_demo.rnd(s.n, 46))
            else soleflip_demo.pick(array['available', 'available', 'available', 'Available',
                                          'reserved', 'listed', 'AVAILABLE', 'available'],
                                    soleflip_demo.rnd(s.n, 46)) end,
       soleflip_demo.pick(array['new', 'new', 'new', 'new', 'used', 'new_with_defects'], soleflip_demo.rnd(s.n, 47)),
       soleflip_demo.pick(array['Black', 'White', 'Red', 'Blue', 'Grey', 'Green', 'Multi'], soleflip_demo.rnd(s.n, 48)),
       soleflip_demo.pick(array['Berlin A1', 'Berlin A2', 'Berlin B1', 'Hamburg', 'Consignment'], soleflip_demo.rnd(s.n, 49)),
       s.net, round(s.net * 1.19, 2), round(s.net * 1.19, 2) - s.net,
       s.bought, s.bought, s.bought
from (
    select n, sold, product_no,
           case when soleflip_demo.rnd(n, 50) < 0.01 then null
                else round((p.retail_price * (0.6 + 0.5 * soleflip_demo.rnd(n, 51)))::numeric, 2) end as net,
           -- a sold item was bought 5 to 125 days before its first sale (order n, and order
           -- n + 1 when that one sells the same item again)
           case when sold
                then date_trunc('day', least(soleflip_demo.sold_at(n),
                         case when n < current_setting('soleflip_demo.orders')::bigint
                                   and soleflip_demo.rnd(n + 1, 85) >= 0.005
                                   and soleflip_demo.rnd(n + 1, 85) < 0.01
                              then soleflip_demo.sold_at(n + 1) end))
                     - make_interval(days => 5 + floor(120 * power(soleflip_demo.rnd(n, 52), 2))::int)
                else date_trunc('day', now())
                     - make_interval(days => floor(400 * power(soleflip_demo.rnd(n, 53), 1.5))::int)
           end as bought
    from (
        select n,
               n <= current_setting('soleflip_demo.orders')::bigint as sold,
               1 + floor(power(soleflip_demo.rnd(n, 40), 2.0) * 712)::int as product_no
        from generate_series(1, round(current_setting('soleflip_demo.orders')::bigint * 1.36)::bigint
                                    + 10) as n
    ) numbered
    join catalog.product p on p.id = soleflip_demo.id(5, numbered.product_no)
) s;

-- step: orders
insert into sales."order" (id, stockx_order_number, inventory_item_id, platform_id, status,
                           currency_code, gross_sale, platform_fee, shipping_cost, net_proceeds,
                           net_profit, roi, buyer_country, buyer_city, payout_received,
                           payout_date, sold_at, raw_data, platform_specific_data, created_at,
                           updated_at)
select soleflip_demo.id(8, o.n),
       case when o.platform_no = 1 then 'SX-' || current_setting('soleflip_demo.seed') || '-' || o.n end,
       o.stock_id,
       case when soleflip_demo.rnd(o.n, 71) < 0.005 then null
            else soleflip_demo.id(1, o.platform_no) end,
       o.status, o.currency,
       o.gross,
       case when soleflip_demo.rnd(o.n, 72) < 0.03 then null else o.fee end,
       case when soleflip_demo.rnd(o.n, 73) < 0.02 then null else o.shipping end,
       o.gross - o.fee - o.shipping,
       o.gross - o.fee - o.shipping - coalesce(o.cost * o.fx, 0),
       case when o.cost > 0 then round((o.gross - o.fee - o.shipping - o.cost * o.fx) / (o.cost * o.fx), 4) end,
       o.country,
       o.city,
       -- paid out 3 to 14 days after the sale, when that day has come
       o.paid_out,
       case when o.paid_out then o.payout_at end,
       -- about 2 % of orders were imported without a sale timestamp
       case when soleflip_demo.rnd(o.n, 76) < 0.02 then null else o.sold_at end,
       case when o.platform_no = 1 then jsonb_build_object('orderNumber', 'SX-' || o.n, 'amount', o.gross, 'currency', o.currency) end,
       jsonb_build_object('channel', soleflip_demo.pick(array['ask', 'bid', 'instant'], soleflip_demo.rnd(o.n, 77))),
       o.sold_at, o.sold_at
from (
    select n, platform_no, status, currency, fx, cost, stock_id, sold_at, payout_at,
           status ilike '%complete%' and soleflip_demo.rnd(n, 74) < 0.9 and payout_at <= now()
             as paid_out,
           country,
           case when soleflip_demo.rnd(n, 90) < 0.03 then soleflip_demo.pick(array[null, '', '  '], soleflip_demo.rnd(n, 91))
                when country is null then null
                else soleflip_demo.pick(case upper(btrim(country))
                         when 'DE' then array['Berlin', 'Berlin', 'Berlin', 'Hamburg', 'München', 'München', 'MÜNCHEN', ' münchen ', 'Köln', 'Düsseldorf', 'Frankfurt am  Main', 'Stuttgart', 'Leipzig', 'berlin ']
                         when 'US' then array['New York', 'New York', 'Los Angeles', 'Chicago', 'Miami', 'new york']
                         when 'GB' then array['London', 'London', 'Manchester', 'Birmingham', 'LONDON']
                         when 'FR' then array['Paris', 'Paris', 'Lyon', 'Marseille']
                         when 'NL' then array['Amsterdam', 'Rotterdam', 'Utrecht']
                         when 'AT' then array['Wien', 'Graz', 'Salzburg']
                         when 'CH' then array['Zürich', 'Basel', 'Genève']
                         when 'IT' then array['Milano', 'Milano', 'Roma', 'Torino']
                         when 'ES' then array['Madrid', 'Madrid', 'Barcelona', 'Sevilla']
                         else array['Warszawa', 'Warszawa', 'Kraków', 'Łódź'] end,
                     power(soleflip_demo.rnd(n, 92), 1.4)) end as city,
           round((gross_eur * fx)::numeric, 2) as gross,
           round((gross_eur * fx * fee_rate)::numeric, 2) as fee,
           round(((5 + 10 * soleflip_demo.rnd(n, 93)) * fx)::numeric, 2) as shipping
    from (
        select n,
               1 + floor(power(soleflip_demo.rnd(n, 80), 1.8) * 5)::int as platform_no,
               (array[0.095, 0.08, 0.124, 0.095, 0.10])[1 + floor(power(soleflip_demo.rnd(n, 80), 1.8) * 5)::int] as fee_rate,
               case when u_status < 0.005 then 'ON_HOLD_REVIEW'
                    when u_status < 0.03 then 'pending'
                    when u_status < 0.06 then 'CANCELLED'
                    when u_status < 0.07 then 'refunded'
                    when u_status < 0.11 then 'shipped'
                    when u_status < 0.14 then 'Delivered'
                    else soleflip_demo.pick(array['COMPLETED', 'completed', 'Completed', ' completed ', 'COMPLETED'], soleflip_demo.rnd(n, 82)) end as status,
               c.currency, c.fx,
               case when soleflip_demo.rnd(n, 83) < 0.005 then -abs(p.retail_price) else 1 end
                 * p.retail_price * (0.9 + 1.1 * power(soleflip_demo.rnd(n, 84), 1.5)) as gross_eur,
               st.purchase_price as cost,
               case when soleflip_demo.rnd(n, 85) < 0.005 then null
                    when soleflip_demo.rnd(n, 85) < 0.01 then soleflip_demo.id(7, greatest(n - 1, 1))
                    else soleflip_demo.id(7, n) end as stock_id,
               soleflip_demo.sold_at(n) as sold_at,
               soleflip_demo.sold_at(n)
                 + make_interval(days => 3 + floor(12 * soleflip_demo.rnd(n, 75))::int) as payout_at,
               case when soleflip_demo.rnd(n, 95) < 0.02 then null
                    else soleflip_demo.pick(array['DE', 'DE', 'DE', 'DE', 'DE', 'de', 'US', 'US', 'GB', 'FR', 'NL', 'AT', 'CH', 'IT', 'ES', 'PL'],
                                            power(soleflip_demo.rnd(n, 96), 1.2)) end as country
        from (select n, soleflip_demo.rnd(n, 81) as u_status
              from generate_series(1, current_setting('soleflip_demo.orders')::bigint) as n) g
        join inventory.stock st on st.id = soleflip_demo.id(7, g.n)
        join catalog.product p on p.id = st.product_id
        -- 12 % of the sales are in another currency, but only on days the shipped ECB
        -- rates cover (soleflip_demo.rates_until, the newest of them): a later sale is in
        -- euros. AED has no ECB rate: those orders are rejected as unknown_currency.
        cross join lateral (
            select case when u < 0.88 then 'EUR' when u < 0.94 then 'USD' when u < 0.98 then 'GBP'
                        when u < 0.995 then 'CHF' else 'AED' end as currency,
                   case when u < 0.88 then 1.0 when u < 0.94 then 1.08 when u < 0.98 then 0.86
                        when u < 0.995 then 0.95 else 4.0 end as fx
            from (select case when soleflip_demo.sold_at(g.n)
                                   < current_setting('soleflip_demo.rates_until')::date::timestamp
                                     at time zone 'UTC'
                              then soleflip_demo.rnd(g.n, 97) else 0 end as u) x
        ) c
    ) raw
) o;

-- step: statistics
analyze catalog.brand, catalog.category, catalog.size_master, catalog.product,
        platform.marketplace, supplier.profile, inventory.stock, sales."order";
