{% macro validate_tenant_table_exists(table_name='users') %}
    {#- Names of the tenant schemas (by tenant_schema_pattern, before filters) that lack
        `table_name`, from the one discovery query; logged when any. [] at parse time. -#}
    {%- set missing = [] -%}
    {%- for t in multitenant_analytics.get_tenant_schemas(table_name) if not t.has_table -%}
        {%- do missing.append(t.name) -%}
    {%- endfor -%}
    {%- if missing -%}
        {{ log("Tenants without " ~ table_name ~ ": " ~ (missing | join(', ')), info=true) }}
    {%- endif -%}
    {{ return(missing) }}
{% endmacro %}
