-- Net purchase value of the items on hand.
select coalesce(sum(current_inventory_value), 0) as current_inventory_value
from analytics.metabase_inventory_status
where in_stock
  [[and {{stock_category}}]]
  [[and {{supplier}}]]
