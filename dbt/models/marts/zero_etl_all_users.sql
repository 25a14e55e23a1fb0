{{ config(
    materialized='tenant_union',
    schema='analytics',
    incremental_column=('updated_at' if var('performance', {}).get('enable_incremental', true) else none),
    unique_key=['tenant_id', 'user_id'],
    volatile_columns=['dbt_loaded_at'],
    enabled=(target.type == 'redshift' or var('enable_zero_etl_model', false)),
) }}

-- The Redshift path: the tenants replicated by a Zero-ETL integration into the read-only database
-- var('zeroetl_database'), read with three-part names and materialised (as analytics_analytics.
-- zero_etl_all_users with the default schema naming) in the working database. On PostgreSQL it runs
-- with var enable_zero_etl_model and zeroetl_database set to the current database.
with unioned as (
    {{ multitenant_analytics.union_zero_etl_tenant_tables('users') }}
)

{{ multitenant_analytics.clean_users('unioned') }}
