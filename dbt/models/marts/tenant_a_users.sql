{{ config(materialized='view') }}

-- One tenant's cleaned users (var sample_tenant, default tenant_a): a quick look during development.
-- Every column of all_users on purpose, so the view follows the model (hence noqa: AM04).
select all_users.*  -- noqa: AM04
from {{ ref('all_users') }} as all_users
where all_users.tenant_id = {{ multitenant_analytics._sql_string(var('sample_tenant', 'tenant_a')) }}
