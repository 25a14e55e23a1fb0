{% macro _record_tenant_union_run(relation, tenants, batches, batch_size, rows, seconds, incremental, batch_stats) %}
    {#- The SQL of one row per successful tenant_union build in <schema>.tenant_union_runs: the measured rates
        that estimate_processing_time calibrates from, a history to compare runs by, and per batch
        [tenants, rows, seconds] as JSON for the run report. -#}
    {#- varchar(65535) is the widest string Redshift has; past it (thousands of batches) none is kept. -#}
    {%- set stats_json = batch_stats | tojson -%}
    {%- set stats_sql = multitenant_analytics._sql_string(stats_json) if stats_json | length <= 65000 else 'null' -%}
    {%- set log_table = api.Relation.create(database=relation.database, schema=relation.schema, identifier='tenant_union_runs') -%}
    {%- set sql -%}
        {{ multitenant_analytics._tenant_union_runs_ddl(log_table) }};
        insert into {{ log_table }} values (
            {{ multitenant_analytics._sql_string(relation.identifier) }}, {{ dbt.current_timestamp() }},
            {{ tenants }}, {{ batches }}, {{ batch_size }}, {{ rows }}, {{ seconds }}, {{ incremental }},
            {{ stats_sql }}
        );
    {%- endset -%}
    {#- Returned, to run in the caller's transaction (the swap's): the row commits with the table it
        describes. -#}
    {{ return(sql) }}
{% endmacro %}

{% macro _record_tenant_set(relation, tenants) %}
    {#- The names of the tenants a build of `relation` read, in <schema>.tenant_union_tenants (one
        row each, replacing the last build's): what tenant_count_guard compares the next build with.
        Returns the SQL, to run in the caller's transaction (the swap's), so it changes only with
        the table. -#}
    {%- set table = api.Relation.create(database=relation.database, schema=relation.schema, identifier='tenant_union_tenants') -%}
    {%- set model = multitenant_analytics._sql_string(relation.identifier) -%}
    {%- set backslash = multitenant_analytics._literal_backslash() -%}
    {#- One row per name, each escaped as _sql_string does (built as one expression: a macro call per
        name would cost seconds at 50,000 tenants). -#}
    {%- set escaped = tenants | map(attribute='name') | map('replace', '\\', backslash) | map('replace', "'", "''") | list -%}
    {%- set sql -%}
        {{ multitenant_analytics._tenant_union_tenants_ddl(table) }};
        delete from {{ table }} where model = {{ model }};
        {%- if escaped %}
        insert into {{ table }} (model, tenant) values
            ({{ model }}, '{{ escaped | join("'), (" ~ model ~ ", '") }}');
        {%- endif %}
    {%- endset -%}
    {{ return(sql) }}
{% endmacro %}

{% macro _tenant_union_log_tables(relation) %}
    {#- [tenant_union_runs, tenant_union_tenants] of the schema of `relation`: the run log every
        tenant_union model of that schema writes. -#}
    {%- set out = [] -%}
    {%- for name in ['tenant_union_runs', 'tenant_union_tenants'] -%}
        {%- do out.append(api.Relation.create(database=relation.database, schema=relation.schema, identifier=name)) -%}
    {%- endfor -%}
    {{ return(out) }}
{% endmacro %}

{% macro _tenant_union_runs_ddl(table) -%}
    create table if not exists {{ table }} (
        model varchar(256) not null,
        finished_at timestamp not null,
        tenants integer not null,
        batches integer not null,
        batch_size integer not null,
        rows_written bigint not null,
        seconds double precision not null,
        incremental boolean not null,
        batch_stats varchar(65535)
    )
{%- endmacro %}

{% macro _tenant_union_tenants_ddl(table) -%}
    create table if not exists {{ table }} (model varchar(256) not null, tenant varchar(256) not null)
{%- endmacro %}

{% macro tenant_union_log_lock_sql(relation) %}
    {#- The statement that goes first among the run-log statements of a swap in relation's schema,
        or '' (none). Dispatched. -#}
    {{ return(adapter.dispatch('tenant_union_log_lock_sql', 'multitenant_analytics')(relation)) }}
{% endmacro %}

{% macro default__tenant_union_log_lock_sql(relation) %}
    {{ return('') }}
{% endmacro %}

{% macro postgres__tenant_union_log_lock_sql(relation) %}
    {#- Two models' first builds, their swaps overlapping, would both create the run-log tables:
        the second's `create table if not exists` waits for the first's uncommitted one, then fails
        on the catalog ("duplicate key value violates unique constraint
        pg_type_typname_nsp_index"). While a table is missing, swaps in the schema take turns on a
        transaction advisory lock, and the later one's create sees the table; once both exist, no
        lock is taken. -#}
    {%- set tables = multitenant_analytics._tenant_union_log_tables(relation) -%}
    {%- set key = multitenant_analytics._sql_string('tenant_union_log:' ~ relation.database ~ '.' ~ relation.schema) -%}
    {%- set sql -%}
        select pg_advisory_xact_lock(hashtextextended({{ key }}, 0))
        where
            to_regclass({{ multitenant_analytics._sql_string(tables[0] | string) }}) is null
            or to_regclass({{ multitenant_analytics._sql_string(tables[1] | string) }}) is null
    {%- endset -%}
    {{ return(sql | trim) }}
{% endmacro %}
