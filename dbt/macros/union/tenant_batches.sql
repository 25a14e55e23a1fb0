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

{% macro tenant_statement_batches(plan, batches, max_bytes) %}
    {#- `batches` (lists of plan.tenants, from tenant_batches) with every batch whose union could
        take more than `max_bytes` bytes of SQL split, order kept, so that each part's branches
        (render_tenant_branches) fit; `max_bytes` none: `batches` as given. A branch is bounded
        from above by its select list, its table and database names (at most doubled by quoting)
        and twice the tenant's name (as a literal and an identifier, each at most doubled). A tenant whose branch
        alone could not fit stops the run, naming it. -#}
    {%- if max_bytes is none or not batches -%}{{ return(batches) }}{%- endif -%}
    {%- set fixed = 96 + 2 * (plan.table_name.encode('utf-8') | length) + 2 * ((plan.database or '').encode('utf-8') | length) -%}
    {%- set layout_bytes = {} -%}
    {%- for key, select_list in plan.select_lists.items() -%}
        {%- do layout_bytes.update({key: fixed + (select_list.encode('utf-8') | length)}) -%}
    {%- endfor -%}
    {#- Fast path: every batch fits even with the widest select list and the longest name (UTF-8
        takes at most 4 bytes a character). -#}
    {%- set longest = plan.tenants | map(attribute='name') | map('length') | max -%}
    {%- set widest = (layout_bytes.values() | max) + 16 * longest -%}
    {%- if (batches | map('length') | max) * widest <= max_bytes -%}{{ return(batches) }}{%- endif -%}
    {%- set out = [] -%}
    {%- for batch in batches -%}
        {%- set part = namespace(tenants=[], bytes=0) -%}
        {%- for t in batch -%}
            {%- set bytes = layout_bytes[t.columns_json] + 4 * (t.name.encode('utf-8') | length) -%}
            {%- if bytes > max_bytes -%}
                {%- set msg -%}
                    tenant_statement_batches: tenant {{ t.name }}'s {{ plan.table_name }} alone makes a statement of up to {{ bytes }} bytes of SQL, over the {{ max_bytes }} bytes a batch may have here (the engine's statement size limit less the model's SQL). Hint: read fewer columns (union_tenant_tables(columns=[...])), or exclude the tenant (tenant_processing.exclude_tenants).
                {%- endset -%}
                {{ exceptions.raise_compiler_error(msg | trim) }}
            {%- endif -%}
            {%- if part.tenants and part.bytes + bytes > max_bytes -%}
                {%- do out.append(part.tenants) -%}
                {%- set part.tenants = [] -%}
                {%- set part.bytes = 0 -%}
            {%- endif -%}
            {%- do part.tenants.append(t) -%}
            {%- set part.bytes = part.bytes + bytes -%}
        {%- endfor -%}
        {%- do out.append(part.tenants) -%}
    {%- endfor -%}
    {{ return(out) }}
{% endmacro %}
