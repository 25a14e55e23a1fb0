{% materialization tenant_union, default %}
    {#- Builds a table from a model that calls union_tenant_tables once, one batch of tenants per
        statement and per transaction (bounded locks and memory at any tenant count), into a staging
        table; the last step, in one transaction, swaps it in (full build) or applies it to the
        existing table (incremental). A failed or interrupted run leaves the previous table
        untouched; the next run drops the leftovers.

        The model's SQL around the union runs once per batch, so it must work row by row (select,
        cast, filter); anything across tenants (count over all rows, distinct, window functions,
        limit) belongs in a model downstream.

        Config: batch_size (default: the union's argument, else var tenant_processing.batch_size),
        and for incremental builds incremental_column (e.g. 'updated_at') with unique_key (default
        ['tenant_id', 'user_id']; tenant_id is always part of it): each tenant reads only rows at
        or past its own watermark (the max of that column in the existing table, rows without a
        value every time); a new tenant is backfilled whole; rows of tenants no longer processed
        are removed. --full-refresh rebuilds from scratch. -#}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set staging = make_intermediate_relation(target_relation, suffix='__tenant_staging') -%}
    {%- set staging_keys = make_intermediate_relation(target_relation, suffix='__tenant_keys') -%}
    {%- set backup = make_backup_relation(target_relation, 'table', suffix='__tenant_backup') -%}
    {%- set show_progress = var('logging', {}).get('show_tenant_progress', true) -%}
    {%- set incremental_column = config.get('incremental_column') -%}
    {%- set incremental = incremental_column is not none and existing_relation is not none and not should_full_refresh() -%}
    {%- set unique_key = config.get('unique_key') or ['tenant_id', 'user_id'] -%}
    {%- set unique_key = [unique_key] if unique_key is string else (unique_key | list) -%}
    {%- if 'tenant_id' not in unique_key -%}
        {#- Keys are per tenant: user 1 of tenant_a is not user 1 of tenant_b. -#}
        {%- set unique_key = ['tenant_id'] + unique_key -%}
    {%- endif -%}

    {%- set union = multitenant_analytics._split_tenant_union(sql) -%}
    {%- set table_name = union.args.table_name -%}
    {%- set batch_size = config.get('batch_size') or union.args.batch_size or multitenant_analytics.tenant_config().batch_size -%}
    {%- set plan = multitenant_analytics.tenant_union_plan(table_name, union.args.columns, union.args.database) -%}
    {%- if incremental_column is not none and incremental_column not in plan.types -%}
        {{ exceptions.raise_compiler_error("tenant_union: incremental_column '" ~ incremental_column ~ "' is not a column of " ~ table_name ~ " (columns: " ~ (plan.columns | join(', ')) ~ ").") }}
    {%- endif -%}
    {#- Delete replaced rows by the keys of every source row read, valid or not, so a row that became
        invalid leaves the table as a full build would; possible when the keys are source columns. -#}
    {%- set raw_keys = incremental and (unique_key | reject('equalto', 'tenant_id') | reject('in', plan.columns) | list | length == 0) -%}
    {%- set watermarks = multitenant_analytics.tenant_watermarks(existing_relation, incremental_column) if incremental else none -%}
    {%- set batches = multitenant_analytics.tenant_batches(plan.tenants, batch_size) -%}
    {% do multitenant_analytics.log_tenant_processing_stats(table_name, plan.tenants | length, batch_size, batches | length) %}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {#- Leftovers of an interrupted run: they would make the create below fail. -#}
    {% do adapter.drop_relation(staging) %}
    {% do adapter.drop_relation(staging_keys) %}
    {% do adapter.drop_relation(backup) %}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- set quoted_keys = [] -%}
    {%- for k in unique_key -%}{%- do quoted_keys.append(multitenant_analytics._quote_ident(k)) -%}{%- endfor -%}
    {%- set total = namespace(rows=0) -%}
    {%- set batch_stats = [] -%}
    {%- set started = modules.datetime.datetime.now() -%}
    {%- for batch in batches -%}
        {%- set batch_started = modules.datetime.datetime.now() -%}
        {%- set batch_union = multitenant_analytics.render_tenant_union(plan, batch, watermarks, incremental_column) -%}
        {%- set query = union.head ~ batch_union ~ union.tail -%}
        {%- if loop.first -%}
            {%- set statement_sql = get_create_table_as_sql(False, staging, query) -%}
        {%- else -%}
            {%- set statement_sql = 'insert into ' ~ staging ~ '\n' ~ query -%}
        {%- endif -%}
        {%- set response = adapter.execute(statement_sql, auto_begin=True, fetch=False)[0] -%}
        {%- if raw_keys -%}
            {%- set keys_query = 'select ' ~ (quoted_keys | join(', ')) ~ ' from (\n' ~ batch_union ~ '\n) as source_rows' -%}
            {%- set keys_sql = get_create_table_as_sql(False, staging_keys, keys_query) if loop.first else 'insert into ' ~ staging_keys ~ '\n' ~ keys_query -%}
            {% do adapter.execute(keys_sql, auto_begin=True, fetch=False) %}
        {%- endif -%}
        {#- Commit per batch: one transaction over every tenant table runs out of lock slots. -#}
        {% do adapter.commit() %}
        {%- set rows = response.rows_affected if response.rows_affected is not none else 0 -%}
        {%- set total.rows = total.rows + rows -%}
        {%- set batch_seconds = (modules.datetime.datetime.now() - batch_started).total_seconds() -%}
        {%- do batch_stats.append([batch | length, rows, batch_seconds | round(4)]) -%}
        {%- if show_progress -%}
            {{ log("tenant_union " ~ model.name ~ ": batch " ~ loop.index ~ "/" ~ loop.length ~ ", " ~ (batch | length) ~ " tenants (" ~ batch[0].name ~ " .. " ~ batch[-1].name ~ "), " ~ rows ~ " rows, " ~ (batch_seconds | round(2)) ~ " s", info=true) }}
        {%- endif -%}
    {%- endfor -%}
    {% do adapter.cache_added(staging) %}

    {%- if incremental -%}
        {#- The delta must have the table's columns and types, in order: a changed model or a
            changed tenant column needs a rebuild, not a misaligned or truncating insert. -#}
        {%- set have = [] -%}
        {%- set got = [] -%}
        {%- for c in adapter.get_columns_in_relation(existing_relation) -%}{%- do have.append(c.name ~ ' ' ~ c.data_type) -%}{%- endfor -%}
        {%- for c in adapter.get_columns_in_relation(staging) -%}{%- do got.append(c.name ~ ' ' ~ c.data_type) -%}{%- endfor -%}
        {%- if have != got -%}
            {% do adapter.drop_relation(staging) %}
            {% do adapter.drop_relation(staging_keys) %}
            {{ exceptions.raise_compiler_error("tenant_union: the columns of " ~ model.name ~ " changed (table: " ~ (have | join(', ')) ~ "; now: " ~ (got | join(', ')) ~ "); an incremental run cannot apply them. Hint: dbt run --full-refresh --select " ~ model.name) }}
        {%- endif -%}
        {#- Apply the delta in one transaction: replaced rows out, new rows in, tenants that are no
            longer processed out. Only these three tables are locked, whatever the tenant count.
            The target is named by its bare name in the correlation: Redshift's DELETE takes no alias. -#}
        {%- set keys_from = staging_keys if raw_keys else staging -%}
        {%- set target_name = multitenant_analytics._quote_ident(existing_relation.identifier) -%}
        {%- set key_match = [] -%}
        {%- for k in quoted_keys -%}{%- do key_match.append('delta.' ~ k ~ ' = ' ~ target_name ~ '.' ~ k) -%}{%- endfor -%}
        {#- Quoted as _sql_string does, in one expression: a macro call per tenant is the slow part. -#}
        {%- set tenant_names = "'" ~ (plan.tenants | map(attribute='name') | map('replace', "'", "''") | join("', '")) ~ "'" -%}
        {%- set apply -%}
            begin;
            delete from {{ existing_relation }}
            where exists (select 1 from {{ keys_from }} as delta where {{ key_match | join(' and ') }});
            delete from {{ existing_relation }}
            where tenant_id not in ({{ tenant_names }});
            insert into {{ existing_relation }} select * from {{ staging }};
            drop table {{ staging }};
            {% if raw_keys -%}drop table {{ staging_keys }};{%- endif %}
            commit;
        {%- endset -%}
        {% call statement('main') -%}
            {{ apply }}
        {%- endcall %}
        {% do adapter.cache_dropped(staging) %}
    {%- else -%}
        {% do create_indexes(staging) %}
        {#- The swap: both renames in one explicit transaction, so a reader sees the old table or
            the new one, never none, and a failure between them changes nothing. -#}
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
    {%- endif -%}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do apply_grants(target_relation, config.get('grants'), should_revoke=not incremental) %}
    {% do persist_docs(target_relation, model) %}
    {% do adapter.commit() %}
    {% do adapter.drop_relation(backup) %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {%- set seconds = (modules.datetime.datetime.now() - started).total_seconds() -%}
    {{ log("tenant_union " ~ model.name ~ ": " ~ ("incremental, " if incremental else "") ~ total.rows ~ " rows from " ~ (plan.tenants | length) ~ " tenants in " ~ (seconds | round(2)) ~ " s", info=true) }}
    {% do multitenant_analytics._record_tenant_union_run(target_relation, plan.tenants | length, batches | length, batch_size, total.rows, seconds, incremental, batch_stats) %}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}

{% macro _split_tenant_union(sql) %}
    {#- The model's compiled SQL around its one union_tenant_tables() call: {head, args, tail}. -#}
    {%- set begin_tag = '/* tenant_union:begin:' ~ invocation_id ~ ' ' -%}
    {%- set end_tag = '/* tenant_union:end:' ~ invocation_id ~ ' */' -%}
    {%- if sql.count(begin_tag) != 1 or sql.count(end_tag) != 1 -%}
        {{ exceptions.raise_compiler_error("tenant_union: model " ~ model.name ~ " must call multitenant_analytics.union_tenant_tables() exactly once (found " ~ sql.count(begin_tag) ~ "). Hint: with unioned as ({{ multitenant_analytics.union_tenant_tables('users') }}) select ... from unioned") }}
    {%- endif -%}
    {%- set head, rest = sql.split(begin_tag) -%}
    {%- set args_json = rest.split(' */', 1)[0] -%}
    {{ return({'head': head, 'args': fromjson(args_json), 'tail': sql.split(end_tag)[1]}) }}
{% endmacro %}

{% macro tenant_watermarks(relation, column) %}
    {#- {tenant_id: max(column)} of the existing table. -#}
    {{ return(adapter.dispatch('tenant_watermarks', 'multitenant_analytics')(relation, column)) }}
{% endmacro %}

{% macro default__tenant_watermarks(relation, column) %}
    {#- One row per tenant; fine where tenants are few or the adapter has no JSON aggregate. -#}
    {%- set query -%}
        select tenant_id, max({{ multitenant_analytics._quote_ident(column) }}) as watermark
        from {{ relation }}
        group by tenant_id
    {%- endset -%}
    {%- set out = {} -%}
    {%- for row in run_query(query).rows -%}{%- do out.update({row[0]: row[1] | string}) -%}{%- endfor -%}
    {{ return(out) }}
{% endmacro %}

{% macro redshift__tenant_watermarks(relation, column) %}
    {#- Redshift has no JSON aggregate: one row per tenant. -#}
    {{ return(multitenant_analytics.default__tenant_watermarks(relation, column)) }}
{% endmacro %}

{% macro postgres__tenant_watermarks(relation, column) %}
    {#- One JSON value: agate's type inference over thousands of rows would cost seconds. -#}
    {%- set query -%}
        select coalesce(json_object_agg(tenant_id, watermark)::text, '{}')
        from (
            select tenant_id, max({{ multitenant_analytics._quote_ident(column) }}) as watermark
            from {{ relation }}
            group by tenant_id
        ) as per_tenant
    {%- endset -%}
    {{ return(fromjson(run_query(query).columns[0].values()[0])) }}
{% endmacro %}
