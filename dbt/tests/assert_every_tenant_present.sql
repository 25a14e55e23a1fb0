-- Every tenant the macros discover (after filters) has rows in all_users.
-- A tenant whose users table holds no valid row is reported too: an empty tenant is worth a look.
{%- set tenants = multitenant_analytics.get_filtered_tenant_schemas('users') if execute else [] %}

with discovered as (
    {%- if tenants %}
        select tenant_id
        from (
            values
            {%- for t in tenants %}
                ({{ multitenant_analytics._sql_string(t.name) }}){{ "," if not loop.last }}
            {%- endfor %}
        ) as tenants (tenant_id)
    {%- else %}
        select cast(null as varchar(128)) as tenant_id
        where false
    {%- endif %}
)

select discovered.tenant_id
from discovered
left join (select distinct tenant_id from {{ ref('all_users') }}) as present
    on discovered.tenant_id = present.tenant_id
where present.tenant_id is null
