-- Sales per buyer country and city (missing values are the Unknown member, never dropped).
-- Names are grouped on their key (analytics.name_key: trimmed, whitespace collapsed,
-- Unicode case-folded) and shown with the group's most frequent spelling; ties go to the
-- spelling written in mixed case, then to the first in byte order (analytics.name_style).
-- A country's spelling is chosen over all its orders, so it is the same on every city row.
-- country_code is ISO 3166-1 alpha-2 when the source holds one (Metabase's world map).
with cells as (
    select f.country_key,
           f.city_key,
           count(*)                                           as total_orders,
           sum(f.units)                                       as units_sold,
           count(distinct f.sale_month)                       as active_months,
           sum(f.revenue)                                     as total_revenue,
           round(avg(f.revenue), 2)                           as avg_order_value,
           sum(f.profit)                                      as total_profit,
           round(avg(f.roi), 2)                               as avg_roi,
           round(avg(f.shipping), 2)                          as avg_shipping_cost,
           count(distinct f.platform_id)                      as platform_count,
           string_agg(distinct f.platform_name, ', ' order by f.platform_name) as platform_names,
           count(distinct f.product_id)                       as unique_products,
           count(distinct f.brand_id)                         as unique_brands
    from analytics.order_facts_live f
    group by f.country_key, f.city_key
),
spellings as (
    select f.country_key, f.country, f.city_key, f.city, count(*) as n
    from analytics.order_facts_live f
    group by f.country_key, f.country, f.city_key, f.city
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
    c.unique_products,
    c.unique_brands
from cells c
join country_names cn on cn.country_key = c.country_key
join city_names ci on ci.country_key = c.country_key and ci.city_key = c.city_key
