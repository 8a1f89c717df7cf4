-- Items on hand per stock category, the youngest category first.
select
    stock_category,
    sum(items)       as items,
    sum(stock_value) as stock_value
from analytics.metabase_inventory_overview
where in_stock
  [[and {{stock_category}}]]
  [[and {{supplier}}]]
group by stock_category
order by min(min_days_in_stock)
