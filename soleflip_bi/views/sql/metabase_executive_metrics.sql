-- Executive KPIs per sale date and platform, from the stored cells per sale date and
-- platform (analytics.sales_by_day_platform, maintained with the order facts).
select
    c.sale_date,
    date_trunc('week', c.sale_date)::date     as sale_week,
    c.sale_month,
    date_trunc('quarter', c.sale_date)::date  as sale_quarter,
    extract(year from c.sale_date)::int       as sale_year,
    c.platform_id,
    c.platform_name,
    c.platform_slug,
    c.orders                                  as total_orders,
    c.units                                   as units_sold,
    c.revenue                                 as total_revenue,
    c.net_proceeds                            as total_net_proceeds,
    c.profit                                  as total_profit,
    round(c.roi_sum / nullif(c.roi_count, 0), 2) as avg_roi,
    round(c.revenue / c.orders, 2)            as avg_order_value,
    c.fees                                    as total_fees,
    c.shipping                                as total_shipping_costs
from analytics.sales_by_day_platform c
