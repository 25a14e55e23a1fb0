-- Every tenant the macros discover (after filters) has rows in all_users.
-- A tenant whose users table holds no valid row is reported too: an empty tenant is worth a look.
-- The discovered names are a UNION ALL of one-row selects: Redshift rejects a VALUES list used as a
-- table (c_unsupported-postgresql-features).
{%- set tenants = multitenant_analytics.get_filtered_tenant_schemas('users') if execute else [] %}

with discovered as (
    {%- if tenants %}
        {%- for t in tenants %}
            {%- if not loop.first %}
                union all
            {%- endif %}
            select cast({{ multitenant_analytics._sql_string(t.name) }} as varchar) as tenant_id
        {%- endfor %}
    {%- else %}
        select cast(null as varchar) as tenant_id
        where false
    {%- endif %}
)

select discovered.tenant_id
from discovered
left join (select distinct tenant_id from {{ ref('all_users') }}) as present
    on discovered.tenant_id = present.tenant_id
where present.tenant_id is null
