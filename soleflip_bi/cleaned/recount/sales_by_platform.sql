-- Orders and revenue per platform, recounted straight from sales."order" with the rule of
-- the README ("What counts as a sale"). Written on purpose without any of the cleaned
-- layer's views, so that a sale the cleaned layer loses or converts wrongly shows up as a
-- difference in the views' revenue_reconciles check. It reads only the rule's own
-- parameters: the sale statuses and the currency rates.
with candidate as (
    select o.id,
           o.platform_id,
           o.gross_sale,
           o.platform_fee,
           o.shipping_cost,
           o.sold_at,
           upper(trim(both ' ' from o.currency_code)) as currency,
           trim(both ' ' from lower(o.status))        as status
    from sales."order" o
),
sale as (
    select c.*, rate.rate_to_reporting
    from candidate c
    join analytics.currency_rate rate on rate.currency_code = c.currency
    where c.status in (select status from analytics.order_status where is_sale)
      and c.sold_at is not null
      and c.sold_at <= now() + interval '1 day'
      and c.gross_sale >= 0
      and coalesce(c.platform_fee, 0) >= 0
      and coalesce(c.shipping_cost, 0) >= 0
)
select coalesce(m.id, '00000000-0000-0000-0000-000000000000'::uuid) as platform_id,
       count(*)                                                    as orders,
       sum(round(s.gross_sale * s.rate_to_reporting, 2))           as revenue
from sale s
left join platform.marketplace m on m.id = s.platform_id
group by 1
