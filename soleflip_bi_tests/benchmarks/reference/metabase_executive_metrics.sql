-- Executive KPIs per sale date and platform.
select
    f.sale_date,
    date_trunc('week', f.sale_date)::date     as sale_week,
    f.sale_month,
    date_trunc('quarter', f.sale_date)::date  as sale_quarter,
    extract(year from f.sale_date)::int       as sale_year,
    f.platform_id,
    f.platform_name,
    f.platform_slug,
    count(*)                                  as total_orders,
    sum(f.units)                              as units_sold,
    sum(f.revenue)                            as total_revenue,
    sum(f.net_proceeds)                       as total_net_proceeds,
    sum(f.profit)                             as total_profit,
    round(avg(f.roi), 2)                      as avg_roi,
    round(avg(f.revenue), 2)                  as avg_order_value,
    sum(f.fees)                               as total_fees,
    sum(f.shipping)                           as total_shipping_costs
from analytics.order_facts_live f
group by f.sale_date, f.sale_month, f.platform_id, f.platform_name, f.platform_slug
