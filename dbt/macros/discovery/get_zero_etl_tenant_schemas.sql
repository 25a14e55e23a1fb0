{% macro get_zero_etl_tenant_schemas(zeroetl_database=none, table_name='users') %}
    {#- The seed's name for discovery: the tenant schemas of the Zero-ETL database (`zeroetl_database`,
        default var zeroetl_database; on PostgreSQL it must be the current database), logging
        "Found N tenant schemas". -#}
    {%- set tenants = multitenant_analytics.get_tenant_schemas(table_name, none, zeroetl_database or var('zeroetl_database')) -%}
    {%- if execute -%}{{ log("Found " ~ (tenants | length) ~ " tenant schemas", info=true) }}{%- endif -%}
    {{ return(tenants) }}
{% endmacro %}
