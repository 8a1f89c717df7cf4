-- Per supplier, product and brand: what was bought, what sold and how fast, and what is
-- left (the supplier views; analytics.stock_with_sales, read as stock). Every figure is a
-- count or a sum that is never NULL (an empty sum is 0 here; the views divide by the
-- matching count), so a stock item that changes is taken out of its cell by subtraction.
select supplier_id, product_id, brand_id,
       count(*)                                                         as purchases,
       coalesce(sum(coalesce(purchase_price, 0) * quantity), 0)         as spent,
       coalesce(sum(purchase_price), 0)                                 as purchase_sum,
       count(purchase_price)                                            as purchase_count,
       count(*) filter (where times_sold > 0)                           as items_sold,
       coalesce(sum(first_sale_date - purchase_day), 0)                 as days_to_sell_sum,
       count(first_sale_date - purchase_day)                            as days_to_sell_count,
       coalesce(sum(quantity) filter (where in_stock), 0)               as unsold_units,
       coalesce(sum(coalesce(purchase_price, 0) * quantity) filter (where in_stock), 0)
                                                                        as unsold_value
from stock
group by supplier_id, product_id, brand_id
