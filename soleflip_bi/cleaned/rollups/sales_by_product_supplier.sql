-- Per product, brand and supplier: the cells product performance, brand analytics and the
-- supplier views aggregate (sums of squares for the price spread).
select product_id, brand_id, supplier_id,
       max(product_name)             as product_name,
       max(sku)                      as sku,
       max(category_name)            as category_name,
       count(*)                      as orders,
       sum(units)                    as units,
       sum(revenue)                  as revenue,
       sum(revenue * revenue)        as revenue_squared,
       min(revenue)                  as min_revenue,
       max(revenue)                  as max_revenue,
       sum(profit)                   as profit,
       sum(roi)                      as roi_sum,
       count(roi)                    as roi_count,
       sum(fees)                     as fees,
       sum(purchase_price)           as purchase_sum,
       count(purchase_price)         as purchase_count,
       min(sale_date)                as first_sale_date,
       max(sale_date)                as last_sale_date
from facts
group by product_id, brand_id, supplier_id
