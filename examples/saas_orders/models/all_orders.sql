{{ config(materialized='tenant_union') }}

-- Every customer's orders in one table: email and status cleaned, orders without an id or a customer
-- email dropped. A customer whose orders table lacks `status` gets NULL there; `amount` is integer in
-- some customers and numeric in others: the union widens it to numeric.
with unioned as (
    {{ multitenant_analytics.union_tenant_tables('orders') }}
)

select
    unioned.tenant_id,
    unioned.order_id,
    lower(trim(unioned.customer_email)) as customer_email,
    upper(trim(unioned.status)) as status,
    unioned.amount,
    unioned.ordered_at,
    unioned.updated_at
from unioned
where
    unioned.order_id is not null
    and unioned.customer_email is not null
