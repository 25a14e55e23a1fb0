{% macro tenant_count_guard(relation, existing_relation, tenants) %}
    {#- Stops a tenant_union build of `relation` that would leave out more than
        tenant_processing.max_tenant_drop (a share; 1 turns the guard off) of the tenants of its last
        build, naming them. The tenants are compared by name, as recorded in
        <schema>.tenant_union_tenants by _record_tenant_set: tenants replaced by as many others (a
        pattern that lost the right schemas and found wrong ones) are caught, and new tenants never
        count. The defence against discovery that cannot see what it may not read (Redshift's
        SVV_ALL_* views, r_SVV_ALL_COLUMNS), where a tenant whose grant was lost disappears instead
        of failing. Builds recorded before that table existed are compared by count
        (tenant_union_runs). -#}
    {%- set share = multitenant_analytics.tenant_config().max_tenant_drop -%}
    {%- if share >= 1 -%}{{ return(none) }}{%- endif -%}
    {%- set names = tenants | map(attribute='name') | list -%}
    {%- set recorded = adapter.get_relation(database=relation.database, schema=relation.schema, identifier='tenant_union_tenants') -%}
    {%- if recorded is not none -%}
        {%- set model = multitenant_analytics._sql_string(relation.identifier) -%}
        {%- set gone = ('tenant not in (' ~ multitenant_analytics._sql_string_list(names) ~ ')') if names else 'true' -%}
        {%- set counts -%}
            select count(*), sum(case when {{ gone }} then 1 else 0 end)
            from {{ recorded }}
            where model = {{ model }}
        {%- endset -%}
        {%- set row = run_query(counts).rows[0] -%}
        {%- set before = row[0] | int -%}
        {%- if before > 0 -%}
            {%- set vanished = row[1] | int -%}
            {%- if vanished / before <= share -%}{{ return(none) }}{%- endif -%}
            {%- set which -%}
                select tenant from {{ recorded }} where model = {{ model }} and {{ gone }} order by tenant limit 21
            {%- endset -%}
            {%- set shown = run_query(which).columns[0].values() | list -%}
            {%- set listed = (shown[:20] | join(', ')) ~ (', ...' if shown | length > 20 else '') -%}
            {{ exceptions.raise_compiler_error(multitenant_analytics._tenant_drop_message(relation, vanished, before, names | length, share, listed)) }}
        {%- endif -%}
    {%- endif -%}
    {{ return(multitenant_analytics._tenant_count_guard_by_count(relation, existing_relation, names, share)) }}
{% endmacro %}

{% macro _tenant_count_guard_by_count(relation, existing_relation, names, share) %}
    {#- For a model whose last build recorded only its tenant count (tenant_union_runs). -#}
    {%- set log_table = adapter.get_relation(database=relation.database, schema=relation.schema, identifier='tenant_union_runs') -%}
    {%- if log_table is none -%}{{ return(none) }}{%- endif -%}
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
    {%- set now = names | length -%}
    {%- if before == 0 or (before - now) / before <= share -%}{{ return(none) }}{%- endif -%}
    {%- if existing_relation is not none -%}
        {%- set vanished_query -%}
            select distinct previous.tenant_id
            from {{ existing_relation }} as previous
            where previous.tenant_id not in ({{ multitenant_analytics._sql_string_list(names) if names else 'null' }})
            order by previous.tenant_id
            limit 21
        {%- endset -%}
        {%- set vanished = run_query(vanished_query).columns[0].values() | list -%}
        {%- set listed = (vanished[:20] | join(', ')) ~ (', ...' if vanished | length > 20 else '') -%}
    {%- else -%}
        {%- set listed = 'not known (' ~ relation ~ ' does not exist)' -%}
    {%- endif -%}
    {{ exceptions.raise_compiler_error(multitenant_analytics._tenant_drop_message(relation, before - now, before, now, share, listed or 'none with rows in the table')) }}
{% endmacro %}

{% macro _tenant_drop_message(relation, vanished, before, now, share, listed) %}
    {%- set msg -%}
        tenant_union: {{ relation.identifier }} would be built without {{ vanished }} of the {{ before }} tenants of its last recorded build (now {{ now }} tenants), more than tenant_processing.max_tenant_drop {{ share }}. Vanished tenants: {{ listed }}. Hint: if a role lost access to them, grant it again (on Redshift, discovery lists only what the role may read); if they were removed on purpose, run once with --vars '{tenant_processing: {max_tenant_drop: 1}}'.
    {%- endset -%}
    {{ return(msg | trim) }}
{% endmacro %}
