{% macro tenant_batches(tenants, batch_size) %}
    {#- Split `tenants` into consecutive batches of at most `batch_size`, order kept. -#}
    {%- if batch_size is not number or batch_size is boolean or batch_size != (batch_size | int) or batch_size < 1 -%}
        {{ exceptions.raise_compiler_error("tenant_batches: batch_size must be a whole number >= 1, got " ~ (batch_size | tojson) ~ ". Hint: tenant_processing.batch_size: 50.") }}
    {%- endif -%}
    {%- set batches = [] -%}
    {%- for start in range(0, tenants | length, batch_size | int) -%}
        {%- do batches.append(tenants[start:start + (batch_size | int)]) -%}
    {%- endfor -%}
    {{ return(batches) }}
{% endmacro %}
