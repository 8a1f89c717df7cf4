-- Every source order judged twice, for the reconciliation checks:
--   platform_id, revenue  the README's sale rule applied straight to sales."order", written on
--                         purpose without the cleaned layer's SQL (it reads only the rule's
--                         parameters, the sale statuses, the time zone and the rates): the
--                         amount over the last rate on or before the sale's day in the
--                         shop's time zone, 1 for euros; NULL when the order is not a sale
--                         by that rule;
--   cleaned               what the cleaned layer made of it: sale, not_sale or rejected
--                         (missing if the cleaned layer lost the order altogether).
-- cleaned/recount.py runs it for every order or, appended with a filter, for some.
select o.id                                                          as order_id,
       case when judged.is_sale
            then coalesce(m.id, '00000000-0000-0000-0000-000000000000'::uuid) end as platform_id,
       case when judged.is_sale then round(o.gross_sale / judged.per_euro, 2) end as revenue,
       case when k.id is null then 'missing'
            when k.reject_reason is not null then 'rejected'
            when k.is_sale then 'sale'
            else 'not_sale' end                                      as cleaned
from sales."order" o
cross join lateral (
    select coalesce(trim(both ' ' from lower(o.status))
                        in (select status from analytics.order_status where is_sale)
                    and o.sold_at <= now() + interval '1 day'
                    and o.gross_sale >= 0
                    and coalesce(o.platform_fee, 0) >= 0
                    and coalesce(o.shipping_cost, 0) >= 0
                    and rate.per_euro is not null, false) as is_sale,
           rate.per_euro
    -- a scalar subquery per order: a lateral join here is memoized by PostgreSQL 17 on
    -- (currency, sold_at), which at a million distinct keys took minutes instead of seconds
    from (select case when upper(trim(both ' ' from o.currency_code)) = 'EUR' then 1.0
                      else (select r.rate from analytics.currency_rate r
                            where r.currency = upper(trim(both ' ' from o.currency_code))
                              and r.rate_date <= (o.sold_at at time zone
                                                  (select value from analytics.reporting_setting
                                                   where name = 'timezone'))::date
                            order by r.rate_date desc limit 1) end as per_euro) as rate
) judged
left join platform.marketplace m on m.id = o.platform_id
left join analytics.order_classified k on k.id = o.id
