-- Items on hand per stock category, the youngest category first.
select
    stock_category,
    count(*)                     as items,
    sum(current_inventory_value) as stock_value
from analytics.metabase_inventory_status
where in_stock
  [[and {{stock_category}}]]
  [[and {{supplier}}]]
group by stock_category
order by min(days_in_stock)
