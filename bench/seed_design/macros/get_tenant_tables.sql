{% macro get_tenant_tables(table_name='users') %}
    {#- The guide's discovery: every schema named like 'tenant_%' (note: `_` is LIKE's wildcard), then
        adapter.get_relation per schema to check the table exists: one catalog query per tenant. -#}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set schemas = run_query(
        "select schema_name from information_schema.schemata"
        ~ " where schema_name like 'tenant_%' order by schema_name"
    ).columns[0].values() -%}
    {%- set tenants = [] -%}
    {%- for schema in schemas -%}
        {%- set relation = adapter.get_relation(database=target.database, schema=schema, identifier=table_name) -%}
        {%- if relation is not none -%}{%- do tenants.append(schema) -%}{%- endif -%}
    {%- endfor -%}
    {{ log("Found " ~ (tenants | length) ~ " tenant schemas", info=true) }}
    {{ return(tenants) }}
{% endmacro %}
