-- Per supplier, product and brand: what was bought, what sold and how fast, and what is
-- left (the supplier views; analytics.stock_with_sales, read as stock).
select supplier_id, product_id, brand_id,
       count(*)                                              as purchases,
       sum(coalesce(purchase_price, 0) * quantity)           as spent,
       sum(purchase_price)                                   as purchase_sum,
       count(purchase_price)                                 as purchase_count,
       count(*) filter (where times_sold > 0)                as items_sold,
       sum(first_sale_date - purchase_date::date)            as days_to_sell_sum,
       count(first_sale_date - purchase_date::date)          as days_to_sell_count,
       sum(quantity) filter (where in_stock)                 as unsold_units,
       sum(coalesce(purchase_price, 0) * quantity) filter (where in_stock) as unsold_value
from stock
group by supplier_id, product_id, brand_id
