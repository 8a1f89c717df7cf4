-- Per product with stock on hand: items, value and age of what is in stock (an item with
-- a purchase date in the future is 0 days old, as in reference.stock_aging).
select
    s.product_id,
    max(s.product_name)                                        as product_name,
    max(s.brand_name)                                          as brand_name,
    sum(s.quantity)                                            as items_in_stock,
    sum(coalesce(s.purchase_price, 0) * s.quantity)            as stock_value,
    round(avg(greatest(0, current_date - s.purchase_date::date)), 1)        as avg_days_in_stock,
    max(greatest(0, current_date - s.purchase_date::date))                  as max_days_in_stock
from analytics.stock_facts_live s
where s.in_stock and s.quantity > 0
group by s.product_id
