{% materialization tenant_union, default %}
    {#- Builds a table from a model that calls union_tenant_tables, one batch of tenants per
        statement and per transaction (bounded locks and memory at any tenant count), into a staging
        table that is swapped in atomically at the end. A failed or interrupted run leaves the
        previous table untouched; leftovers of such a run are dropped by the next one. -#}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set staging = make_intermediate_relation(target_relation, suffix='__tenant_staging') -%}
    {%- set backup = make_backup_relation(target_relation, 'table', suffix='__tenant_backup') -%}
    {%- set table_name = config.get('tenant_table', 'users') -%}
    {%- set cfg = multitenant_analytics.tenant_config() -%}
    {%- set batch_size = config.get('batch_size') or cfg.batch_size -%}
    {%- set show_progress = var('logging', {}).get('show_tenant_progress', true) -%}

    {%- set begin_marker = '/* tenant_union:begin */' -%}
    {%- set end_marker = '/* tenant_union:end */' -%}
    {%- if sql.count(begin_marker) != 1 or sql.count(end_marker) != 1 -%}
        {{ exceptions.raise_compiler_error("tenant_union: model " ~ model.name ~ " must call multitenant_analytics.union_tenant_tables() exactly once. Hint: select ... from ({{ multitenant_analytics.union_tenant_tables('" ~ table_name ~ "') }}) as unioned") }}
    {%- endif -%}
    {%- set head = sql.split(begin_marker)[0] -%}
    {%- set tail = sql.split(end_marker)[1] -%}

    {%- set plan = multitenant_analytics.tenant_union_plan(table_name, config.get('tenant_columns')) -%}
    {%- set batches = multitenant_analytics.tenant_batches(plan.tenants, batch_size) -%}
    {% do multitenant_analytics.log_tenant_processing_stats(table_name, plan.tenants | length, batch_size, batches | length) %}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {#- Leftovers of an interrupted run: they would make the create below fail. -#}
    {% do adapter.drop_relation(staging) %}
    {% do adapter.drop_relation(backup) %}

    {%- set total = namespace(rows=0) -%}
    {%- set started = modules.datetime.datetime.now() -%}
    {%- for batch in batches -%}
        {%- set batch_started = modules.datetime.datetime.now() -%}
        {%- set query = head ~ multitenant_analytics.render_tenant_union(plan, batch) ~ tail -%}
        {%- if loop.first -%}
            {%- set statement_sql = get_create_table_as_sql(False, staging, query) -%}
        {%- else -%}
            {%- set statement_sql = 'insert into ' ~ staging ~ '\n' ~ query -%}
        {%- endif -%}
        {%- set response = adapter.execute(statement_sql, auto_begin=True, fetch=False)[0] -%}
        {#- Commit per batch: one transaction over every tenant table runs out of lock slots. -#}
        {% do adapter.commit() %}
        {%- set rows = response.rows_affected if response.rows_affected is not none else 0 -%}
        {%- set total.rows = total.rows + rows -%}
        {%- if show_progress -%}
            {{ log("tenant_union " ~ model.name ~ ": batch " ~ loop.index ~ "/" ~ loop.length ~ ", " ~ (batch | length) ~ " tenants (" ~ batch[0].name ~ " .. " ~ batch[-1].name ~ "), " ~ rows ~ " rows, " ~ ((modules.datetime.datetime.now() - batch_started).total_seconds() | round(2)) ~ " s", info=true) }}
        {%- endif -%}
    {%- endfor -%}
    {% do adapter.cache_added(staging) %}
    {% do create_indexes(staging) %}

    {#- The swap: both renames in one explicit transaction, so a reader sees the old table or the
        new one, never none, and a failure between them changes nothing. -#}
    {%- set swap -%}
        begin;
        {% if existing_relation is not none -%}
        alter table {{ existing_relation }} rename to {{ backup.identifier }};
        {% endif -%}
        alter table {{ staging }} rename to {{ target_relation.identifier }};
        commit;
    {%- endset -%}
    {% call statement('main') -%}
        {{ swap }}
    {%- endcall %}
    {% if existing_relation is not none %}
        {% do adapter.cache_renamed(existing_relation, backup) %}
    {% endif %}
    {% do adapter.cache_renamed(staging, target_relation) %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do apply_grants(target_relation, config.get('grants'), should_revoke=true) %}
    {% do persist_docs(target_relation, model) %}
    {% do adapter.commit() %}
    {% do adapter.drop_relation(backup) %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ log("tenant_union " ~ model.name ~ ": " ~ total.rows ~ " rows from " ~ (plan.tenants | length) ~ " tenants in " ~ ((modules.datetime.datetime.now() - started).total_seconds() | round(2)) ~ " s", info=true) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
