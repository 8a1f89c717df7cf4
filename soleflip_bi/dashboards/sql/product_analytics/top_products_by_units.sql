-- The ten products with the most units sold among those selected by the filters.
select product_name, units_sold
from analytics.metabase_product_performance
where true
  [[and {{date_range}}]]
  [[and {{brand}}]]
order by units_sold desc, total_revenue desc, product_id
limit 10
