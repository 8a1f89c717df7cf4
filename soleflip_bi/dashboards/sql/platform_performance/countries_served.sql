-- Marketplaces that sold to each buyer country. The geography view lists the platforms
-- per city (platform_names), so the platform filter is a plain value compared here.
select
    country_code,
    count(distinct served.platform_name) as platforms
from analytics.metabase_customer_geography
cross join lateral unnest(string_to_array(platform_names, ', ')) as served(platform_name)
where country_code is not null
  [[and served.platform_name = {{platform}}]]
group by country_code
order by platforms desc, country_code
