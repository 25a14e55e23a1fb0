-- The project's own check (zero rows = pass): orders with a negative amount.
select
    all_orders.tenant_id,
    all_orders.order_id,
    all_orders.amount
from all_orders
where all_orders.amount < 0
