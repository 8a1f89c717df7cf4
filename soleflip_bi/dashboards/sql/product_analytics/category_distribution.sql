-- Revenue per product category of the products selected by the filters.
select category_name, sum(total_revenue) as total_revenue
from analytics.metabase_product_performance
where true
  [[and {{date_range}}]]
  [[and {{brand}}]]
group by category_name
order by total_revenue desc, category_name
