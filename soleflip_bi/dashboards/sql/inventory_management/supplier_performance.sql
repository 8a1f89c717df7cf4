-- Suppliers: what was bought, how it sold, what it earned and what is left unsold.
select
    supplier_name,
    supplier_country,
    supplier_rating,
    total_purchases,
    total_spent,
    units_sold,
    sell_through_rate,
    total_revenue_generated,
    total_profit,
    avg_roi,
    avg_days_to_sell,
    unsold_units,
    unsold_value
from analytics.metabase_supplier_performance
where true
  [[and {{supplier}}]]
order by total_revenue_generated desc, supplier_name
