{#- Redshift variants of the tenant_union run lock. dbt dispatches Redshift to redshift__, then
    postgres__, then default__ (dbt-redshift extends dbt-postgres), so without these Redshift would
    get the PostgreSQL advisory-lock DO blocks, which it does not have (c_unsupported-postgresql-features,
    c_unsupported-postgresql-functions); the default__ claim table and LOCK are the Redshift way. -#}

{% macro redshift__tenant_union_lock(relation, timeouts) %}
    {{ return(multitenant_analytics.default__tenant_union_lock(relation, timeouts)) }}
{% endmacro %}

{% macro redshift__tenant_union_unlock(relation) %}
    {{ return(multitenant_analytics.default__tenant_union_unlock(relation)) }}
{% endmacro %}

{% macro redshift__tenant_union_lock_table(relation, timeouts, mode) %}
    {{ return(multitenant_analytics.default__tenant_union_lock_table(relation, timeouts, mode)) }}
{% endmacro %}

{% macro redshift__tenant_union_run_batch(batch) %}
    {#- Plain statements: Redshift has no PL/pgSQL DO blocks to wrap a batch in. -#}
    {{ return(multitenant_analytics.default__tenant_union_run_batch(batch)) }}
{% endmacro %}

{% macro redshift__tenant_tables_with_children(table_name, tenants, database) %}
    {#- Redshift has no table inheritance or partitions to find (and no json_agg). -#}
    {{ return(multitenant_analytics.default__tenant_tables_with_children(table_name, tenants, database)) }}
{% endmacro %}

{% macro redshift__tenant_fingerprint_sql(source, columns, column) %}
    {#- Redshift has no hashtextextended or row(): the md5 form. -#}
    {{ return(multitenant_analytics.default__tenant_fingerprint_sql(source, columns, column)) }}
{% endmacro %}

{% macro redshift__tenant_table_fingerprints(relation, columns, column) %}
    {#- Redshift has no JSON aggregate: one row per tenant. -#}
    {{ return(multitenant_analytics.default__tenant_table_fingerprints(relation, columns, column)) }}
{% endmacro %}

{% macro redshift__tenant_union_run_checks(checks, timeouts, tx) %}
    {#- No PL/pgSQL DO blocks: a statement per check. -#}
    {{ return(multitenant_analytics.default__tenant_union_run_checks(checks, timeouts, tx)) }}
{% endmacro %}

{% macro redshift__tenant_union_swap_in(existing_relation, statements, timeouts, tx) %}
    {#- No DO blocks for the lock: a statement each. -#}
    {{ return(multitenant_analytics.default__tenant_union_swap_in(existing_relation, statements, timeouts, tx)) }}
{% endmacro %}

{% macro redshift__tenant_union_finish(relation, backup) %}
    {#- No advisory lock to release: the drop, then the claim's removal. -#}
    {{ return(multitenant_analytics.default__tenant_union_finish(relation, backup)) }}
{% endmacro %}

{% macro redshift__tenant_union_lock_log(relation, timeouts) %}
    {#- Concurrent writers of the run log are serialized by LOCK on Redshift, not left alone as on PostgreSQL. -#}
    {{ return(multitenant_analytics.default__tenant_union_lock_log(relation, timeouts)) }}
{% endmacro %}
