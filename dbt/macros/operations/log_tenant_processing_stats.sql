{% macro log_tenant_processing_stats(table_name, total_tenants, batch_size, batch_count) %}
    {#- The seed's stats block, printed when logging.show_performance_stats is on. -#}
    {%- if var('logging', {}).get('show_performance_stats', true) -%}
        {{ log("=== Tenant Processing Stats ===\nTable: " ~ table_name ~ "\nTotal Tenants: " ~ total_tenants ~ "\nBatch Size: " ~ batch_size ~ "\nBatch Count: " ~ batch_count, info=true) }}
    {%- endif -%}
{% endmacro %}
