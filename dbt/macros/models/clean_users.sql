{% macro clean_users(source) %}
    {#- The seed's cleaning of unioned users rows, shared by all_users and zero_etl_all_users:
        lower/trim email, trim names, upper status, lower tier; rows without user_id or email
        dropped. `source` names the relation or CTE holding the union (with tenant_id).
        The load time through dbt.current_timestamp(): on Redshift, current_timestamp is a
        leader-node-only function that fails over user tables (c_SQL_functions_leader_node_only). -#}
select
    {{ source }}.tenant_id,
    {{ source }}.user_id,
    lower(trim({{ source }}.email)) as email,
    trim({{ source }}.first_name) as first_name,
    trim({{ source }}.last_name) as last_name,
    {{ source }}.registration_date,
    {{ source }}.last_login_date,
    upper(trim({{ source }}.account_status)) as account_status,
    lower(trim({{ source }}.subscription_tier)) as subscription_tier,
    {{ source }}.created_at,
    {{ source }}.updated_at,
    {{ dbt.current_timestamp() }} as dbt_loaded_at
from {{ source }}
where
    {{ source }}.user_id is not null
    and {{ source }}.email is not null
{%- endmacro %}
