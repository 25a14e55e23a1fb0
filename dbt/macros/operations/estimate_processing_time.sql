{% macro estimate_processing_time(tenant_count, avg_rows_per_tenant, model='all_users') %}
    {#- Estimate a full tenant_union build of `model` for `tenant_count` tenants with
        `avg_rows_per_tenant` rows each, calibrated from the builds measured on this target
        (<schema>.tenant_union_runs): seconds = per_tenant * tenants + per_row * rows, fitted by
        least squares over past full builds. Needs at least one measured build.
        dbt run-operation estimate_processing_time --args '{tenant_count: 100, avg_rows_per_tenant: 1000}' -#}
    {%- for name, value in [('tenant_count', tenant_count), ('avg_rows_per_tenant', avg_rows_per_tenant)] -%}
        {%- if value is not number or value is boolean or value < 0 -%}
            {{ exceptions.raise_compiler_error("estimate_processing_time: " ~ name ~ " must be a number >= 0, got " ~ (value | tojson) ~ ".") }}
        {%- endif -%}
    {%- endfor -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set log_table = api.Relation.create(database=target.database, schema=target.schema, identifier='tenant_union_runs') -%}
    {%- set found = adapter.get_relation(database=target.database, schema=target.schema, identifier='tenant_union_runs') -%}
    {%- if found is none -%}
        {{ exceptions.raise_compiler_error("estimate_processing_time: no measured builds yet (" ~ log_table ~ " does not exist). Hint: dbt run once; every tenant_union build records its rates.") }}
    {%- endif -%}
    {#- Least squares for seconds = a * tenants + b * rows over the last 50 full builds. -#}
    {%- set query -%}
        select
            count(*) as builds,
            sum(tenants::float8 * tenants) as tt, sum(tenants::float8 * rows_written) as tr,
            sum(rows_written::float8 * rows_written) as rr,
            sum(tenants * seconds) as ts, sum(rows_written * seconds) as rs,
            sum(seconds) / nullif(sum(tenants), 0) as per_tenant_only
        from (
            select * from {{ log_table }}
            where model = {{ multitenant_analytics._sql_string(model) }} and not incremental
            order by finished_at desc
            limit 50
        ) as recent
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- set r = {} -%}
    {%- for key in ['builds', 'tt', 'tr', 'rr', 'ts', 'rs', 'per_tenant_only'] -%}
        {%- do r.update({key: (row[key] or 0) | float}) -%}
    {%- endfor -%}
    {%- if r['builds'] == 0 -%}
        {{ exceptions.raise_compiler_error("estimate_processing_time: no full build of " ~ model ~ " measured yet. Hint: dbt run --select " ~ model ~ " --full-refresh") }}
    {%- endif -%}
    {%- set det = r['tt'] * r['rr'] - r['tr'] * r['tr'] -%}
    {%- if det > 1e-9 * r['tt'] * r['rr'] -%}
        {%- set per_tenant = (r['ts'] * r['rr'] - r['rs'] * r['tr']) / det -%}
        {%- set per_row = (r['tt'] * r['rs'] - r['tr'] * r['ts']) / det -%}
        {%- if per_tenant < 0 or per_row < 0 -%}
            {%- set per_tenant, per_row = [r['per_tenant_only'], 0] -%}
        {%- endif -%}
    {%- else -%}
        {#- One build (or builds of one shape): the cost cannot be split between tenants and rows. -#}
        {%- set per_tenant, per_row = [r['per_tenant_only'], 0] -%}
    {%- endif -%}
    {%- set rows = tenant_count * avg_rows_per_tenant -%}
    {%- set seconds = per_tenant * tenant_count + per_row * rows -%}
    {%- set batch_size = multitenant_analytics.tenant_config().batch_size -%}
    {{ log("=== Processing Time Estimate ===\nTenants: " ~ tenant_count ~ "\nRows: " ~ rows ~ "\nBatch Size: " ~ batch_size ~ "\nBatch Count: " ~ ((tenant_count / batch_size) | round(0, 'ceil') | int) ~ "\nEstimated Seconds: " ~ (seconds | round(1)) ~ "\nCalibrated from: " ~ (r['builds'] | int) ~ " measured build(s); " ~ ((per_tenant * 1000) | round(3)) ~ " ms per tenant, " ~ ((per_row * 1000000) | round(3)) ~ " s per million rows", info=true) }}
    {{ return(seconds) }}
{% endmacro %}
