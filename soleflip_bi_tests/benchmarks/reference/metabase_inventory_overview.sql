-- Stock items counted per brand, category, supplier, stock category and whether still on
-- hand: the inventory dashboard's KPIs and charts read these few thousand cells instead
-- of a million stock items, with the same filters (stock category, supplier, brand).
select
    a.brand_id,
    max(a.brand_name)                          as brand_name,
    a.category_id,
    max(a.category_name)                       as category_name,
    a.supplier_id,
    max(a.supplier_name)                       as supplier_name,
    a.stock_category,
    a.in_stock,
    count(*)                                   as items,
    count(*) filter (where a.times_sold > 0)   as sold_items,
    sum(a.quantity)                            as quantity,
    sum(a.current_inventory_value)             as stock_value,
    sum(a.days_in_stock)                       as days_in_stock_sum,
    min(a.days_in_stock)                       as min_days_in_stock,
    max(a.days_in_stock)                       as max_days_in_stock
from reference.stock_aging a
group by a.brand_id, a.category_id, a.supplier_id, a.stock_category, a.in_stock
