-- Items on hand in the Dead Stock category (thresholds: analytics.classification_threshold).
select coalesce(sum(items), 0) as dead_stock_items
from analytics.metabase_inventory_overview
where in_stock
  and stock_category = 'Dead Stock'
  [[and {{supplier}}]]
