-- Per buyer city (by name key) and product: which products and brands each city bought
-- (customer geography's distinct counts; a product's brand is one brand).
select country_key, city_key, product_id, brand_id, count(*) as orders
from facts
group by country_key, city_key, product_id, brand_id
