{% macro get_tenant_schemas(table_name='users', pattern=none) %}
    {#- Every schema whose name matches the tenant pattern, with whether it has `table_name`, whether
        we may read it, and its columns: one metadata query, whatever the tenant count.
        Returns a list of {name, has_table, readable, columns_json}; [] at parse time. -#}
    {{ return(adapter.dispatch('get_tenant_schemas', 'multitenant_analytics')(table_name, pattern)) }}
{% endmacro %}

{% macro default__get_tenant_schemas(table_name, pattern) %}
    {{ exceptions.raise_compiler_error("get_tenant_schemas: no discovery query for adapter '" ~ adapter.type() ~ "'. Hint: add a " ~ adapter.type() ~ "__get_tenant_schemas macro.") }}
{% endmacro %}

{% macro postgres__get_tenant_schemas(table_name, pattern) %}
    {#- pg_catalog rather than information_schema: the views filter by privilege row by row and are
        several times slower with thousands of schemas. -#}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set pattern = pattern or var('tenant_schema_pattern', 'tenant_*') -%}
    {#- One row, one JSON value: agate's type inference over 10,000 rows would cost seconds. -#}
    {%- set query -%}
        select coalesce(json_agg(json_build_array(
            tenant.schema_name, tenant.has_table, tenant.readable, tenant.columns_json
        ) order by tenant.schema_name collate "C")::text, '[]') as tenants
        from (
            select
                n.nspname::text as schema_name,
                c.oid is not null as has_table,
                has_schema_privilege(n.oid, 'USAGE')
                and (c.oid is null or has_table_privilege(c.oid, 'SELECT')) as readable,
                coalesce((
                    select json_agg(
                        json_build_array(a.attname, format_type(a.atttypid, a.atttypmod))
                        order by a.attnum
                    )::text
                    from pg_catalog.pg_attribute as a
                    where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                ), '[]') as columns_json
            from pg_catalog.pg_namespace as n
            left join pg_catalog.pg_class as c
                -- A correlated lookup by (name, schema) per tenant: always an index probe. A plain
                -- join was planned as a 50M-row nested loop with catalog statistics stale after a
                -- bulk load; to_regclass() would fail on schemas we may not use.
                on c.oid = (
                    select t.oid
                    from pg_catalog.pg_class as t
                    where
                        t.relnamespace = n.oid
                        and t.relname = {{ multitenant_analytics._sql_string(table_name) }}
                        and t.relkind in ('r', 'p', 'v', 'm', 'f')
                )
            where n.nspname ilike {{ multitenant_analytics._sql_string(multitenant_analytics._glob_to_like(pattern)) }} escape '!'
        ) as tenant
    {%- endset -%}
    {%- set tenants = [] -%}
    {%- for row in fromjson(run_query(query).columns[0].values()[0]) -%}
        {%- do tenants.append({'name': row[0], 'has_table': row[1], 'readable': row[2], 'columns_json': row[3]}) -%}
    {%- endfor -%}
    {{ return(tenants) }}
{% endmacro %}
