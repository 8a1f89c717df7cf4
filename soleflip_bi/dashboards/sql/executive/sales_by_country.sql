-- Lifetime revenue per buyer country, keyed by ISO code for Metabase's world map. Sales
-- with no country are in the geography view's Unknown row; a map cannot place them.
select
    country_code,
    sum(total_revenue) as total_revenue,
    sum(total_orders)  as total_orders
from analytics.metabase_customer_geography
where country_code is not null
group by country_code
order by total_revenue desc, country_code
