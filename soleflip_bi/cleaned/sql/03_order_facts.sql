-- The one definition of a sale (README, "What counts as a sale").
--
-- Whether an order is a sale depends on the order alone: its status (case- and
-- whitespace-insensitive) is a sale status in analytics.order_status, and its sale date,
-- amounts and currency can be trusted; otherwise it carries a reject_reason. Amounts are
-- converted to euros at the ECB reference rate of the sale date in the shop's time zone:
-- the last rate in analytics.currency_rate on or before that date (units of the currency
-- per euro, so euros = amount / rate); NULL fees and shipping count as 0; net proceeds
-- default to revenue - fees - shipping.
create or replace view analytics.order_classified as
with settings as (
    select (select value from analytics.reporting_setting where name = 'timezone') as timezone
)
select
    o.*,
    lower(btrim(o.status))                                  as sale_status,
    upper(btrim(o.currency_code))                           as sale_currency,
    (o.sold_at at time zone settings.timezone)::date        as sale_date,
    case when upper(btrim(o.currency_code)) = 'EUR' then 1.0
         else coalesce(d.rate, l.rate) end                  as exchange_rate,
    coalesce(d.rate_date, l.rate_date)                      as rate_date,
    coalesce(os.is_sale, false)                             as is_sale,
    case
        when os.status is null then 'unknown_status'
        when not os.is_sale then null
        when o.sold_at is null then 'missing_sold_at'
        when o.sold_at > now() + interval '1 day' then 'future_sold_at'
        when o.gross_sale is null then 'missing_amount'
        when o.gross_sale < 0 or o.platform_fee < 0 or o.shipping_cost < 0 then 'negative_amount'
        when upper(btrim(o.currency_code)) is distinct from 'EUR'
         and coalesce(d.rate, l.rate) is null then 'unknown_currency'
    end                                                     as reject_reason
from sales."order" o
cross join settings
left join analytics.order_status os on os.status = lower(btrim(o.status))
left join analytics.currency_rate_day d
       on d.currency = upper(btrim(o.currency_code))
      and d.day = (o.sold_at at time zone settings.timezone)::date
left join analytics.currency_rate_latest l
       on l.currency = upper(btrim(o.currency_code))
      and l.rate_date < (o.sold_at at time zone settings.timezone)::date;

-- Every order with its dimensions and, for a sale, the stock-derived figures. A defect of
-- the stock item never removes the sale: it sets stock_flag (shown as a warning in
-- analytics.source_quality_issues) and leaves what depends on the item unknown:
--   purchase_price  NULL when the item is missing, rejected or has no price;
--   profit          net proceeds - purchase price; NULL when the purchase price is NULL;
--   roi             profit / purchase price * 100; NULL unless the purchase price is > 0.
-- Product, brand, category and supplier come from the item even when it is rejected
-- (Unknown when it or they are missing).
create or replace view analytics.order_checked as
with settings as (
    select (select value from analytics.reporting_setting where name = 'timezone') as timezone
)
select
    o.id                                                    as order_id,
    o.stockx_order_number,
    o.inventory_item_id                                     as inventory_id,
    coalesce(st.product_id, analytics.unknown_id())         as product_id,
    coalesce(st.product_name, 'Unknown')                    as product_name,
    coalesce(st.sku, 'Unknown')                             as sku,
    coalesce(st.brand_id, analytics.unknown_id())           as brand_id,
    coalesce(st.category_id, analytics.unknown_id())        as category_id,
    coalesce(st.category_name, 'Unknown')                   as category_name,
    coalesce(st.supplier_id, analytics.unknown_id())        as supplier_id,
    coalesce(m.id, analytics.unknown_id())                  as platform_id,
    coalesce(m.name, 'Unknown')                             as platform_name,
    coalesce(m.slug, 'unknown')                             as platform_slug,
    o.sale_status                                           as status,
    o.sale_currency                                         as currency_code,
    o.sold_at,
    o.sale_date,
    o.exchange_rate,
    o.rate_date,
    round(o.gross_sale / o.exchange_rate, 2)                as revenue,
    round(coalesce(o.platform_fee, 0) / o.exchange_rate, 2) as fees,
    round(coalesce(o.shipping_cost, 0) / o.exchange_rate, 2) as shipping,
    round(coalesce(o.net_proceeds,
                   o.gross_sale - coalesce(o.platform_fee, 0) - coalesce(o.shipping_cost, 0))
          / o.exchange_rate, 2)                             as net_proceeds,
    case when st.reject_reason is null then st.purchase_price end as purchase_price,
    coalesce(analytics.clean_name(o.buyer_country), 'Unknown') as country,
    analytics.name_key(coalesce(analytics.clean_name(o.buyer_country), 'Unknown'))
                                                            as country_key,
    coalesce(analytics.clean_name(o.buyer_city), 'Unknown') as city,
    analytics.name_key(coalesce(analytics.clean_name(o.buyer_city), 'Unknown')) as city_key,
    coalesce(o.payout_received, false)                      as payout_received,
    (o.payout_date at time zone settings.timezone)::date
      - (o.sold_at at time zone settings.timezone)::date    as payout_days,
    o.platform_fee is null                                  as fee_missing,
    o.updated_at,
    o.reject_reason,
    o.is_sale,
    case
        when o.inventory_item_id is null then 'no_stock_item'
        when st.inventory_id is null then 'stock_item_not_found'
        when st.reject_reason is not null then 'stock_' || st.reject_reason
        when not st.product_known then 'stock_product_not_found'
        when st.purchase_price is null then 'stock_missing_purchase_price'
    end                                                     as stock_flag
from analytics.order_classified o
cross join settings
left join analytics.stock_checked st on st.inventory_id = o.inventory_item_id
left join platform.marketplace m on m.id = o.platform_id;

create or replace view analytics.order_facts_live as
select order_id, stockx_order_number, inventory_id, product_id, product_name, sku, brand_id,
       category_id, category_name, supplier_id, platform_id, platform_name, platform_slug,
       status, currency_code, sold_at, sale_date,
       date_trunc('month', sale_date)::date                 as sale_month,
       1                                                    as units,
       revenue, fees, shipping, net_proceeds,
       round(net_proceeds - purchase_price, 2)              as profit,
       case when purchase_price > 0
            then round((net_proceeds - purchase_price) / purchase_price * 100, 2) end as roi,
       purchase_price, country, country_key, city, city_key, payout_received, payout_days,
       stock_flag, updated_at, exchange_rate, rate_date
from analytics.order_checked
where is_sale and reject_reason is null;

-- The facts every gold view aggregates, stored once per change instead of being computed
-- again by each of the ten views. Maintained from order_facts_live by the project
-- (cleaned/facts.py) only when a source changed since the last maintenance.
create table if not exists analytics.order_facts as
select * from analytics.order_facts_live with no data;
-- One row per sale, enforced: a maintenance that would store a sale twice fails instead.
create unique index if not exists order_facts_order_id_key on analytics.order_facts (order_id);
drop index if exists analytics.order_facts_order_id_idx;
