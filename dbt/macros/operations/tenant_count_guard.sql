{% macro tenant_count_guard(relation, existing_relation, tenants) %}
    {#- Stops a tenant_union build of `relation` whose tenant count fell by more than
        tenant_processing.max_tenant_drop (a share; 1 turns the guard off) from the last build
        recorded in <schema>.tenant_union_runs, naming the vanished tenants: those with rows in
        `existing_relation` that are not in `tenants`. The defence against discovery that cannot see
        what it may not read (Redshift's SVV_ALL_* views, r_SVV_ALL_COLUMNS), where a tenant whose
        grant was lost disappears instead of failing. -#}
    {%- set share = multitenant_analytics.tenant_config().max_tenant_drop -%}
    {%- set log_table = adapter.get_relation(database=relation.database, schema=relation.schema, identifier='tenant_union_runs') -%}
    {%- if share >= 1 or log_table is none -%}{{ return(none) }}{%- endif -%}
    {%- set last -%}
        select tenant_union_runs.tenants
        from {{ log_table }} as tenant_union_runs
        where tenant_union_runs.model = {{ multitenant_analytics._sql_string(relation.identifier) }}
        order by tenant_union_runs.finished_at desc
        limit 1
    {%- endset -%}
    {%- set rows = run_query(last).rows -%}
    {%- if rows | length == 0 -%}{{ return(none) }}{%- endif -%}
    {%- set before = rows[0][0] | int -%}
    {%- set now = tenants | length -%}
    {%- if before == 0 or (before - now) / before <= share -%}{{ return(none) }}{%- endif -%}
    {%- if existing_relation is not none -%}
        {%- set vanished_query -%}
            select distinct previous.tenant_id
            from {{ existing_relation }} as previous
            where previous.tenant_id not in ({{ multitenant_analytics._sql_string_list(tenants | map(attribute='name')) }})
            order by previous.tenant_id
            limit 21
        {%- endset -%}
        {%- set vanished = run_query(vanished_query).columns[0].values() | list -%}
        {%- set names = (vanished[:20] | join(', ')) ~ (', ...' if vanished | length > 20 else '') -%}
    {%- else -%}
        {%- set names = 'not known (' ~ relation ~ ' does not exist)' -%}
    {%- endif -%}
    {%- set msg -%}
        tenant_union: {{ relation.identifier }} would be built from {{ now }} tenants, {{ before - now }} fewer than the {{ before }} of its last recorded build, a drop of more than tenant_processing.max_tenant_drop {{ share }}. Vanished tenants: {{ names or 'none with rows in the table' }}. Hint: if a role lost access to them, grant it again (on Redshift, discovery lists only what the role may read); if they were removed on purpose, run once with --vars '{tenant_processing: {max_tenant_drop: 1}}'.
    {%- endset -%}
    {{ exceptions.raise_compiler_error(msg | trim) }}
{% endmacro %}
