-- Per brand and sale month: the months in which each brand sold (brand analytics).
select brand_id, sale_month, count(*) as orders
from facts
group by brand_id, sale_month
