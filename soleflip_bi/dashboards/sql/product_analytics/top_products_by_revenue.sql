-- The ten products with the highest revenue among those selected by the filters.
select product_name, total_revenue
from analytics.metabase_product_performance
where true
  [[and {{date_range}}]]
  [[and {{brand}}]]
order by total_revenue desc, product_id
limit 10
