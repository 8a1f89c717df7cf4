-- Net purchase value of the items on hand.
select coalesce(sum(stock_value), 0) as current_inventory_value
from analytics.metabase_inventory_overview
where in_stock
  [[and {{stock_category}}]]
  [[and {{supplier}}]]
