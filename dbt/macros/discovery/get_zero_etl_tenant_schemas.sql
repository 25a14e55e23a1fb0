{% macro get_zero_etl_tenant_schemas(zeroetl_database=none, table_name='users') %}
    {#- The seed's name for discovery: tenant schemas (with table, readability and columns), logging
        "Found N tenant schemas". On PostgreSQL the tenants live in the current database. -#}
    {%- set tenants = multitenant_analytics.get_tenant_schemas(table_name) -%}
    {%- if execute -%}{{ log("Found " ~ (tenants | length) ~ " tenant schemas", info=true) }}{%- endif -%}
    {{ return(tenants) }}
{% endmacro %}
