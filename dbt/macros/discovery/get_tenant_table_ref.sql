{% macro get_tenant_table_ref(tenant, table_name='users', database=none) %}
    {#- The quoted reference to one tenant's table: "tenant"."users", or with `database`
        "database"."tenant"."users" (the three-part name Zero-ETL databases are read with).
        Quotes inside names are doubled, so any schema name is safe. -#}
    {%- set parts = [tenant, table_name] if database is none else [database, tenant, table_name] -%}
    {%- set quoted = [] -%}
    {%- for part in parts -%}{%- do quoted.append(multitenant_analytics._quote_ident(part)) -%}{%- endfor -%}
    {{ return(quoted | join('.')) }}
{% endmacro %}
