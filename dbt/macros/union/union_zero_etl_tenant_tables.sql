{#- The seed guide's names for the union, kept so models written against the guide keep working.
    They are the same batched, drift-aware union as union_tenant_tables. -#}

{% macro union_zero_etl_tenant_tables(table_name='users', columns=none, batch_size=none, zeroetl_database=none) %}
    {#- The union read from the Zero-ETL database (var zeroetl_database) with three-part names. -#}
    {{ return(multitenant_analytics.union_tenant_tables(table_name, columns, batch_size, zeroetl_database or var('zeroetl_database'))) }}
{% endmacro %}

{% macro union_zero_etl_tenant_tables_optimized(table_name='users', columns=none, batch_size=none, zeroetl_database=none) %}
    {{ return(multitenant_analytics.union_zero_etl_tenant_tables(table_name, columns, batch_size, zeroetl_database)) }}
{% endmacro %}

{% macro union_tenant_tables_optimized(table_name='users', columns=none, batch_size=none) %}
    {{ return(multitenant_analytics.union_tenant_tables(table_name, columns, batch_size)) }}
{% endmacro %}
