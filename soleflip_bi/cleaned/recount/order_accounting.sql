-- Where every source order went: a sale (a row of the stored facts), an order that is not
-- a sale, or rejected with a reason. The three must add up to the rows of sales."order".
select (select count(*) from sales."order")                               as source_rows,
       (select count(*) from analytics.order_facts)                       as sales,
       (select count(distinct order_id) from analytics.order_facts)       as distinct_sales,
       count(*) filter (where reject_reason is null and not is_sale)      as not_sales,
       count(*) filter (where reject_reason is not null)                  as rejected,
       count(*) filter (where reject_reason is null and is_sale)          as valid_sales
from analytics.order_classified
