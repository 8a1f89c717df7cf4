-- Share (%) of the stock items bought that have sold, for the 15 brands bought most.
select
    brand_name,
    round(100.0 * count(*) filter (where times_sold > 0) / count(*), 2) as sell_through_rate,
    count(*)                                                            as items_purchased
from analytics.metabase_inventory_status
where true
  [[and {{brand}}]]
group by brand_name
order by items_purchased desc, brand_name
limit 15
