-- Histogram: products per band of 50 EUR of average sale price.
select
    (floor(avg_sale_price / 50) * 50)::int as price_band_eur,
    count(*)                               as products
from analytics.metabase_product_performance
where true
  [[and {{date_range}}]]
  [[and {{brand}}]]
group by price_band_eur
order by price_band_eur
