{{ config(materialized='tenant_union', tenant_table='users') }}

-- The consumer's own cleaning over the package's union of every tenant's users: users with an id
-- and an email, the email's domain split out and the name joined, one row per (tenant_id, user_id).
with unioned as (
    {{ multitenant_analytics.union_tenant_tables('users') }}
)

select
    unioned.tenant_id,
    unioned.user_id,
    lower(trim(unioned.email)) as email,
    split_part(lower(trim(unioned.email)), '@', 2) as email_domain,
    initcap(trim(unioned.first_name)) || ' ' || initcap(trim(unioned.last_name)) as full_name,
    lower(trim(unioned.account_status)) as account_status,
    unioned.registration_date
from unioned
where
    unioned.user_id is not null
    and unioned.email is not null
