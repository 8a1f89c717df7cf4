-- Per buyer country and city as written: how often each spelling of a name key occurs
-- (customer geography shows each group's most frequent spelling).
select country_key, city_key, country, city, count(*) as orders
from facts
group by country_key, city_key, country, city
