{{ config(
    materialized='tenant_union',
    tenant_table='users',
    incremental_column=('updated_at' if var('performance', {}).get('enable_incremental', true) else none),
    unique_key=['tenant_id', 'user_id'],
) }}

-- No ORDER BY: a table has no order, and sorting a million rows costs seconds; readers sort.
with unioned as (
    {{ multitenant_analytics.union_tenant_tables('users') }}
)

select
    unioned.tenant_id,
    unioned.user_id,
    lower(trim(unioned.email)) as email,
    trim(unioned.first_name) as first_name,
    trim(unioned.last_name) as last_name,
    unioned.registration_date,
    unioned.last_login_date,
    upper(trim(unioned.account_status)) as account_status,
    lower(trim(unioned.subscription_tier)) as subscription_tier,
    unioned.created_at,
    unioned.updated_at,
    current_timestamp as dbt_loaded_at
from unioned
where
    unioned.user_id is not null
    and unioned.email is not null
