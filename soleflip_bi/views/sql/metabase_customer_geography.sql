-- Sales per buyer country and city (missing values are the Unknown member, never dropped).
-- Names are grouped on their key (analytics.name_key: trimmed, whitespace collapsed,
-- Unicode case-folded) and shown with the group's most frequent spelling; ties go to the
-- spelling written in mixed case, then to the first in byte order (analytics.name_style).
-- A country's spelling is chosen over all its orders, so it is the same on every city row.
-- country_code is ISO 3166-1 alpha-2 when the source holds one (Metabase's world map).
-- Aggregated from stored cells: per platform, month and city
-- (analytics.sales_by_platform_city_month), per city and product
-- (analytics.sales_by_city_product) and per spelling (analytics.sales_by_spelling).
with cells as (
    select c.country_key,
           c.city_key,
           sum(c.orders)::bigint                              as total_orders,
           sum(c.units)::bigint                               as units_sold,
           count(distinct c.sale_month)                       as active_months,
           sum(c.revenue)                                     as total_revenue,
           round(sum(c.revenue) / sum(c.orders), 2)           as avg_order_value,
           sum(c.profit)                                      as total_profit,
           round(sum(c.roi_sum) / nullif(sum(c.roi_count), 0), 2) as avg_roi,
           round(sum(c.shipping) / sum(c.orders), 2)          as avg_shipping_cost,
           count(distinct c.platform_id)                      as platform_count,
           string_agg(distinct c.platform_name, ', ' order by c.platform_name) as platform_names
    from analytics.sales_by_platform_city_month c
    group by c.country_key, c.city_key
),
bought as (
    select country_key, city_key,
           count(distinct product_id) as unique_products,
           count(distinct brand_id)   as unique_brands
    from analytics.sales_by_city_product
    group by country_key, city_key
),
spellings as (
    select country_key, country, city_key, city, orders as n
    from analytics.sales_by_spelling
),
country_names as (
    select distinct on (country_key) country_key, country
    from (select country_key, country, sum(n) as n from spellings group by 1, 2) s
    order by country_key, n desc, analytics.name_style(country), country collate "C"
),
city_names as (
    select distinct on (country_key, city_key) country_key, city_key, city
    from spellings
    order by country_key, city_key, n desc, analytics.name_style(city), city collate "C"
)
select
    cn.country,
    ci.city,
    case when c.country_key ~ '^[a-z]{2}$' then upper(c.country_key) end as country_code,
    c.total_orders,
    c.units_sold,
    c.active_months,
    c.total_revenue,
    c.avg_order_value,
    c.total_profit,
    c.avg_roi,
    c.avg_shipping_cost,
    c.platform_count,
    c.platform_names,
    b.unique_products,
    b.unique_brands
from cells c
join bought b on b.country_key = c.country_key and b.city_key = c.city_key
join country_names cn on cn.country_key = c.country_key
join city_names ci on ci.country_key = c.country_key and ci.city_key = c.city_key
