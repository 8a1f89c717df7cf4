-- Lifetime revenue per brand (Metabase folds slices under its threshold into "Other").
select brand_name, total_revenue
from analytics.metabase_brand_analytics
where true
  [[and {{brand}}]]
order by total_revenue desc, brand_name
