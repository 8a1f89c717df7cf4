-- Sales per buyer country and city (missing values are the Unknown member, never dropped).
-- country_code is ISO 3166-1 alpha-2 when the source holds one (Metabase's world map).
select
    f.country,
    f.city,
    case when f.country ~ '^[A-Z]{2}$' then f.country end     as country_code,
    count(*)                                                  as total_orders,
    sum(f.units)                                              as units_sold,
    count(distinct f.sale_month)                              as active_months,
    sum(f.revenue)                                            as total_revenue,
    round(avg(f.revenue), 2)                                  as avg_order_value,
    sum(f.profit)                                             as total_profit,
    round(avg(f.roi), 2)                                      as avg_roi,
    round(avg(f.shipping), 2)                                 as avg_shipping_cost,
    count(distinct f.platform_id)                             as platform_count,
    string_agg(distinct f.platform_name, ', ' order by f.platform_name) as platform_names,
    count(distinct f.product_id)                              as unique_products,
    count(distinct f.brand_id)                                as unique_brands
from analytics.order_facts f
group by f.country, f.city
