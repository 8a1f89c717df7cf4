-- Share (%) of the stock items bought that have sold, for the 15 brands bought most.
select
    brand_name,
    round(100.0 * sum(sold_items) / sum(items), 2) as sell_through_rate,
    sum(items)                                     as items_purchased
from analytics.metabase_inventory_overview
where true
  [[and {{brand}}]]
group by brand_name
order by items_purchased desc, brand_name
limit 15
