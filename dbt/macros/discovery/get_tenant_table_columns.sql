{% macro get_tenant_table_columns(tenant, table_name='users') %}
    {#- One tenant's columns of `table_name`, as dbt Column objects (name, data type), read from
        the database; [] at parse time or when the table does not exist. For all tenants at once
        use tenant_union_plan, which needs no query per tenant. -#}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set relation = adapter.get_relation(database=target.database, schema=tenant, identifier=table_name) -%}
    {%- if relation is none -%}{{ return([]) }}{%- endif -%}
    {{ return(adapter.get_columns_in_relation(relation)) }}
{% endmacro %}
