-- Revenue and profit per month for the last twelve months, the current one included.
select
    sale_month,
    sum(total_revenue) as total_revenue,
    sum(total_profit)  as total_profit
from analytics.metabase_executive_metrics
where sale_month >= (date_trunc('month', current_date) - interval '11 months')::date
group by sale_month
order by sale_month
