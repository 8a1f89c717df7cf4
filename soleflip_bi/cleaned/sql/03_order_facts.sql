-- The one definition of a sale. An order is a sale when its status (case- and
-- whitespace-insensitive) is a sale status in analytics.order_status. Amounts are
-- converted to the reporting currency with analytics.currency_rate; NULL fees and
-- shipping count as 0; net proceeds default to revenue - fees - shipping.
-- profit = net proceeds - the stock item's net purchase price (0 when unknown);
-- roi    = profit / purchase price * 100, only when the purchase price is known and > 0.
-- Orders that cannot be trusted carry a reject_reason and are excluded from the facts.
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
    lower(btrim(o.status))                                  as status,
    upper(btrim(o.currency_code))                           as currency_code,
    o.sold_at,
    (o.sold_at at time zone settings.timezone)::date        as sale_date,
    round(o.gross_sale * r.rate_to_reporting, 2)            as revenue,
    round(coalesce(o.platform_fee, 0) * r.rate_to_reporting, 2) as fees,
    round(coalesce(o.shipping_cost, 0) * r.rate_to_reporting, 2) as shipping,
    round(coalesce(o.net_proceeds,
                   o.gross_sale - coalesce(o.platform_fee, 0) - coalesce(o.shipping_cost, 0))
          * r.rate_to_reporting, 2)                         as net_proceeds,
    st.purchase_price,
    coalesce(upper(nullif(btrim(o.buyer_country), '')), 'Unknown') as country,
    coalesce(initcap(nullif(btrim(o.buyer_city), '')), 'Unknown')  as city,
    coalesce(o.payout_received, false)                      as payout_received,
    (o.payout_date at time zone settings.timezone)::date
      - (o.sold_at at time zone settings.timezone)::date    as payout_days,
    o.platform_fee is null                                  as fee_missing,
    o.updated_at,
    case
        when os.status is null then 'unknown_status'
        when not os.is_sale then null
        when o.sold_at is null then 'missing_sold_at'
        when o.gross_sale is null then 'missing_amount'
        when o.gross_sale < 0 or o.platform_fee < 0 or o.shipping_cost < 0 then 'negative_amount'
        when r.currency_code is null then 'unknown_currency'
        when o.inventory_item_id is not null and st.inventory_id is null then 'rejected_stock_item'
    end                                                     as reject_reason,
    coalesce(os.is_sale, false)                             as is_sale
from sales."order" o
cross join settings
left join analytics.order_status os on os.status = lower(btrim(o.status))
left join analytics.currency_rate r on r.currency_code = upper(btrim(o.currency_code))
left join analytics.stock_facts st on st.inventory_id = o.inventory_item_id
left join platform.marketplace m on m.id = o.platform_id;

create or replace view analytics.order_facts_live as
select order_id, stockx_order_number, inventory_id, product_id, product_name, sku, brand_id,
       category_id, category_name, supplier_id, platform_id, platform_name, platform_slug,
       status, currency_code, sold_at, sale_date,
       date_trunc('month', sale_date)::date                 as sale_month,
       1                                                    as units,
       revenue, fees, shipping, net_proceeds,
       round(net_proceeds - coalesce(purchase_price, 0), 2) as profit,
       case when purchase_price > 0
            then round((net_proceeds - purchase_price) / purchase_price * 100, 2) end as roi,
       purchase_price, country, city, payout_received, payout_days, updated_at
from analytics.order_checked
where is_sale and reject_reason is null;

-- The facts every gold view aggregates, stored once per change instead of being computed
-- again by each of the ten views. Rebuilt from order_facts_live by the project
-- (cleaned/facts.py) only when a source changed since the last rebuild.
create table if not exists analytics.order_facts as
select * from analytics.order_facts_live with no data;
create index if not exists order_facts_order_id_idx on analytics.order_facts (order_id);
