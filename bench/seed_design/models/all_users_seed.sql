{{ config(materialized='table') }}
{#- One statement: the UNION ALL over every tenant, split into CTEs of seed_batch_size tenants. -#}
{%- set tenants = get_tenant_tables('users') -%}
{%- set batches = tenants | batch(var('seed_batch_size', 50)) | list -%}

with
{% for batch in batches -%}
batch_{{ loop.index }} as (
    {%- for tenant in batch %}
    select cast('{{ tenant }}' as varchar(128)) as tenant_id, user_id, email, first_name, last_name,
        registration_date, last_login_date, account_status, subscription_tier, created_at, updated_at
    from {{ adapter.quote(tenant) }}.users
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),
{% endfor -%}
unioned as (
    {%- for batch in batches %}
    select * from batch_{{ loop.index }}
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
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
