{{ config(
    materialized='tenant_union',
    incremental_column=('updated_at' if var('performance', {}).get('enable_incremental', true) else none),
    unique_key=['tenant_id', 'user_id'],
    volatile_columns=['dbt_loaded_at'],
) }}

-- No ORDER BY: a table has no order, and sorting a million rows costs seconds; readers sort.
with unioned as (
    {{ multitenant_analytics.union_tenant_tables('users') }}
)

{{ multitenant_analytics.clean_users('unioned') }}
