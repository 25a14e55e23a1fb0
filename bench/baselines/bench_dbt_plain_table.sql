-- all_users as a plain dbt `table`: the same discovery, the same union of every tenant (nested in
-- groups of batch_size, as `dbt compile` renders it) and the same cleaning, as one statement in one
-- transaction. No batches, no staging of our own, no change check: the least any dbt model doing
-- this work costs. Past a few thousand tenants it runs out of lock slots on default settings.
{{ config(materialized='table') }}

with unioned as (
    {{ multitenant_analytics.union_tenant_tables('users') }}
)

{{ multitenant_analytics.clean_users('unioned') }}
