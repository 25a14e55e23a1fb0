{% materialization tenant_union, default %}
    {#- Builds a table from a model that calls union_tenant_tables once, one batch of tenants per
        statement and per transaction (bounded locks and memory at any tenant count), into a
        staging table; the last transaction swaps it in (full build) or applies it to the existing
        table (incremental). A failed or interrupted run leaves the previous table untouched; the
        next run drops the leftovers. One build of a model at a time per database: a second run
        waits for the first (performance.run_wait_seconds), then fails naming it.

        The contract with the model: union_tenant_tables() records its arguments as the model's
        config `meta.tenant_union` at parse time, and at run time renders as `select * from
        <tenant_union_batch_cte()>`; each batch runs the model's compiled SQL, unchanged, under a
        WITH that defines that CTE as the batch's tenants. So the SQL around the union runs once
        per batch and must work row by row; anything across tenants belongs downstream.
        Model config and settings: see materializations.yml. -#}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set relations = multitenant_analytics._tenant_union_relations(target_relation) -%}
    {%- set build = multitenant_analytics._tenant_union_settings() -%}
    {%- set tx = multitenant_analytics._tenant_union_transactions(pre_hooks) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {#- Under the lock: another run's staging is never dropped, its swap never overtaken. -#}
    -- `BEGIN` happens here; the leftovers' drops, the pre-hooks, discovery and the guard commit
    -- with the first batch (or before an incremental build's change checks); every other batch
    -- commits on its own (bounded locks).
    {% do multitenant_analytics._tenant_union_begin(tx) %}
    {%- set listed = multitenant_analytics.tenant_union_lock(target_relation, build.timeouts) -%}
    {%- set existing_relation = multitenant_analytics._tenant_union_clear_leftovers(target_relation, listed) -%}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {%- set plan = multitenant_analytics._tenant_union_plan(build, existing_relation) -%}
    {% do multitenant_analytics.tenant_count_guard(target_relation, existing_relation, plan.union.tenants) %}
    {%- set plan = multitenant_analytics._tenant_union_skip_unchanged(plan, build, tx) -%}
    {%- set staged = multitenant_analytics._tenant_union_build_staging(plan, build, relations, tx) -%}

    -- `BEGIN` happens here: the swap (or the delta), the run log, hooks, grants and docs commit at once.
    {%- set record = multitenant_analytics._tenant_union_record(target_relation, plan, build, staged) -%}
    {%- if plan.incremental -%}
        {% do multitenant_analytics._tenant_union_begin(tx) %}
        {% do multitenant_analytics.tenant_union_lock_log(target_relation, build.timeouts) %}
        {%- set backup = multitenant_analytics._tenant_union_apply(existing_relation, plan, build, relations) -%}
        {% do adapter.execute(record.sql | join(';\n'), auto_begin=True) %}
    {%- else -%}
        {%- set backup = multitenant_analytics._tenant_union_swap(existing_relation, target_relation, build, relations, tx, record.sql) -%}
    {%- endif -%}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% set revoke = should_revoke(existing_relation, full_refresh_mode=not plan.incremental) %}
    {% do apply_grants(target_relation, config.get('grants'), should_revoke=revoke) %}
    {% do persist_docs(target_relation, model) %}
    -- `COMMIT` happens here:
    {% do multitenant_analytics._tenant_union_commit(tx) %}

    {% do multitenant_analytics.tenant_union_finish(target_relation, backup) %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {% do store_raw_result('main', message=('INSERT 0 ' ~ staged.rows), code='INSERT', rows_affected=staged.rows) %}
    {{ log("tenant_union " ~ model.name ~ ": " ~ ("incremental, " if plan.incremental else "") ~ staged.rows ~ " rows from " ~ (plan.union.tenants | length) ~ " tenants in " ~ (record.seconds | round(2)) ~ " s", info=true) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}

{% macro _tenant_union_relations(relation) %}
    {#- The build's own relations, named for this run (invocation_id), so two runs never share one:
        {staging, backup}. _tenant_union_clear_leftovers finds dead runs' by the same names. -#}
    {%- set run = invocation_id | replace('-', '') -%}
    {{ return({
        'staging': make_intermediate_relation(relation, suffix='__tu_stg_' ~ run[:12]),
        'backup': make_backup_relation(relation, 'table', suffix='__tu_bak_' ~ run[:12]),
    }) }}
{% endmacro %}

{% macro _tenant_union_transactions(pre_hooks) %}
    {#- Which transaction the model's connection is in: {open, committed}. See _tenant_union_begin. -#}
    {#- dbt's run_hooks sends a COMMIT before hooks outside the transaction, if there are any. -#}
    {{ return(namespace(open=false, committed=(pre_hooks | rejectattr('transaction') | list | length > 0))) }}
{% endmacro %}

{% macro _tenant_union_begin(tx) %}
    {#- Opens the next transaction; dbt's adapter.commit() (_tenant_union_commit) ends it. dbt's
        begin() sends nothing on PostgreSQL: psycopg2 opens a transaction itself, but only the first
        time; after dbt's COMMIT it takes itself to be in one still, so every later statement would
        commit on its own, and the swap would not be atomic. So after the first COMMIT the BEGIN is
        sent here (tenant_union_begin_sql), and dbt's bookkeeping still opens and commits it. -#}
    {%- if not tx.open -%}
        {%- if tx.committed -%}
            {% do adapter.execute(multitenant_analytics.tenant_union_begin_sql(), auto_begin=True) %}
        {%- endif -%}
        {%- set tx.open = true -%}
    {%- endif -%}
{% endmacro %}

{% macro _tenant_union_commit(tx) %}
    {% do adapter.commit() %}
    {%- set tx.open = false -%}
    {%- set tx.committed = true -%}
{% endmacro %}

{% macro tenant_union_begin_sql() %}
    {#- The statement that opens a transaction after dbt's first COMMIT on the connection, or ''
        where dbt's own begin() does it. -#}
    {{ return(adapter.dispatch('tenant_union_begin_sql', 'multitenant_analytics')()) }}
{% endmacro %}

{% macro default__tenant_union_begin_sql() %}
    {{ return('select 1') }}
{% endmacro %}

{% macro postgres__tenant_union_begin_sql() %}
    {{ return('begin') }}
{% endmacro %}

{% macro _tenant_union_settings() %}
    {#- What this build does, from the model's config and the project's vars; bad values stop here. -#}
    {% do multitenant_analytics.tenant_union_check_transactions() %}
    {%- set union = (config.get('meta') or {}).get('tenant_union') -%}
    {%- if union is none -%}
        {%- set msg -%}
            tenant_union: model {{ model.name }} does not call multitenant_analytics.union_tenant_tables().
            Hint: with unioned as ({{ '{{' }} multitenant_analytics.union_tenant_tables('users') {{ '}}' }}) select ... from unioned
        {%- endset -%}
        {{ exceptions.raise_compiler_error(msg | replace('\n', ' ')) }}
    {%- endif -%}
    {%- set cte = multitenant_analytics.tenant_union_batch_cte() -%}
    {%- if sql.count(cte) != 1 -%}
        {{ exceptions.raise_compiler_error("tenant_union: model " ~ model.name ~ " must call multitenant_analytics.union_tenant_tables() exactly once (found " ~ sql.count(cte) ~ "). Hint: union other tables in a model of their own.") }}
    {%- endif -%}
    {%- set incremental_column = config.get('incremental_column') -%}
    {%- set unique_key = config.get('unique_key') -%}
    {%- if incremental_column is not none and not unique_key -%}
        {{ exceptions.raise_compiler_error("tenant_union: model " ~ model.name ~ " sets incremental_column '" ~ incremental_column ~ "' without unique_key: an incremental build cannot replace changed rows without it. Hint: config(unique_key=['tenant_id', 'user_id']).") }}
    {%- endif -%}
    {%- set unique_key = [] if not unique_key else [unique_key] if unique_key is string else (unique_key | list) -%}
    {%- if unique_key and 'tenant_id' not in unique_key -%}
        {#- Keys are per tenant: user 1 of tenant_a is not user 1 of tenant_b. -#}
        {%- set unique_key = ['tenant_id'] + unique_key -%}
    {%- endif -%}
    {{ return({
        'union': union,
        'batch_size': config.get('batch_size') or union.batch_size or multitenant_analytics.tenant_config().batch_size,
        'incremental_column': incremental_column,
        'unique_key': unique_key,
        'volatile_columns': multitenant_analytics._tenant_union_volatile_columns(),
        'timeouts': multitenant_analytics._tenant_union_timeouts(),
        'show_progress': var('logging', {}).get('show_tenant_progress', true),
        'started': modules.datetime.datetime.now(),
    }) }}
{% endmacro %}

{% macro tenant_union_check_transactions() %}
    {#- Stops the build where the adapter would not run its statements in transactions: the swap
        and the incremental apply must commit at once, or not at all. Dispatched. -#}
    {{ return(adapter.dispatch('tenant_union_check_transactions', 'multitenant_analytics')()) }}
{% endmacro %}

{% macro default__tenant_union_check_transactions() %}
{% endmacro %}

{% macro redshift__tenant_union_check_transactions() %}
    {#- dbt-redshift connects with autocommit on by default and sends BEGIN and COMMIT itself; with
        its behavior flag redshift_skip_autocommit_transaction_statements on it sends neither, so
        every statement would commit alone (a swap half done, a delta without its run log), and a
        BEGIN of ours would open a transaction nothing commits. -#}
    {%- set flag = adapter.behavior.redshift_skip_autocommit_transaction_statements -%}
    {%- if flag.no_warn and target.autocommit -%}
        {%- set msg -%}
            tenant_union: model {{ model.name }} needs transactions, but the flag redshift_skip_autocommit_transaction_statements is on with autocommit: dbt-redshift then sends no BEGIN or COMMIT and every statement commits on its own, so a build could be left half applied. Hint: set flags: {redshift_skip_autocommit_transaction_statements: false} in dbt_project.yml, or autocommit: false in the profile.
        {%- endset -%}
        {{ exceptions.raise_compiler_error(msg | trim) }}
    {%- endif -%}
{% endmacro %}

{% macro _tenant_union_volatile_columns() %}
    {#- Model config `volatile_columns`: columns whose value differs on every build by design (a
        load time), left out of the incremental change check, which otherwise covers every column. -#}
    {%- set volatile = config.get('volatile_columns') or [] -%}
    {%- set volatile = [volatile] if volatile is string else volatile -%}
    {%- if volatile is not iterable or volatile is mapping -%}
        {{ exceptions.raise_compiler_error("tenant_union: model " ~ model.name ~ " config volatile_columns must be a list of column names, got " ~ (volatile | string) ~ ". Hint: config(volatile_columns=['dbt_loaded_at']).") }}
    {%- endif -%}
    {{ return(volatile | list) }}
{% endmacro %}

{% macro _tenant_union_timeouts() %}
    {#- Seconds, from var `performance`: query_timeout_seconds (each batch statement and the swap),
        lock_timeout_seconds (how long a batch or the swap waits for a lock, and so the longest a
        reader waits behind the swap), run_wait_seconds (how long a run waits for another run of
        the same model). 0 means no limit. -#}
    {%- set performance = var('performance', {}) -%}
    {%- set defaults = {'query_timeout_seconds': 3600, 'lock_timeout_seconds': 60, 'run_wait_seconds': 600} -%}
    {%- set out = {} -%}
    {%- for key, default in defaults.items() -%}
        {%- set value = performance.get(key, default) if performance is mapping else default -%}
        {%- if value is not number or value is boolean or value < 0 -%}
            {{ exceptions.raise_compiler_error("tenant_union: performance." ~ key ~ " must be a number of seconds >= 0 (0: no limit), got " ~ (value | tojson) ~ ". Hint: --vars '{performance: {" ~ key ~ ": " ~ default ~ "}}'.") }}
        {%- endif -%}
        {%- do out.update({key.replace('_seconds', ''): value}) -%}
    {%- endfor -%}
    {{ return(out) }}
{% endmacro %}

{% macro _tenant_union_prefix(relation) %}
    {#- What the names of the model's table and of its runs' relations (_tenant_union_relations)
        start with: the table's name, shortened as the engine's name length demands. -#}
    {{ return(multitenant_analytics._tenant_union_relations(relation).staging.identifier[:-(('__tu_stg_' | length) + 12)]) }}
{% endmacro %}

{% macro _tenant_union_clear_leftovers(relation, listed=none) %}
    {#- Drops the relations of runs that died before cleaning up (staging, backup: the names
        _tenant_union_relations gives; keys and the __tenant_* names: those of earlier versions),
        under the lock, so never a live run's. Returns the model's
        table as it is in the database now (the cache predates any run this one waited for).
        `listed`: the schema's relations as [name, type] rows, read with the lock (at least those
        whose names start with _tenant_union_prefix), or none to list them here. -#}
    {%- set prefix = multitenant_analytics._tenant_union_prefix(relation) -%}
    {%- set pattern = modules.re.compile('^' ~ modules.re.escape(prefix) ~ '(__tu_(stg|key|bak)_[0-9a-f]{12}|__tenant_(staging|keys|backup))$') -%}
    {%- if listed is none -%}
        {%- set schema_relation = api.Relation.create(database=relation.database, schema=relation.schema) -%}
        {%- set listed = [] -%}
        {%- for row in list_relations_without_caching(schema_relation) -%}{%- do listed.append([row.name, row.type]) -%}{%- endfor -%}
    {%- endif -%}
    {%- set existing = namespace(relation=none) -%}
    {%- for row in listed -%}
        {%- set found = api.Relation.create(database=relation.database, schema=relation.schema, identifier=row[0], type=row[1]) -%}
        {%- if found.identifier == relation.identifier -%}
            {%- set existing.relation = found -%}
        {%- elif pattern.match(found.identifier) -%}
            {{ log("tenant_union " ~ model.name ~ ": dropping " ~ found ~ ", left by a run that did not finish", info=true) }}
            {% do adapter.drop_relation(found) %}
        {%- endif -%}
    {%- endfor -%}
    {%- if existing.relation is none -%}
        {% do adapter.cache_dropped(relation) %}
    {%- else -%}
        {% do adapter.cache_added(existing.relation) %}
    {%- endif -%}
    {{ return(existing.relation) }}
{% endmacro %}

{% macro _tenant_union_plan(build, existing_relation) %}
    {#- The tenants (discovered now, under the lock) and their batches; for an incremental build
        also each tenant's fingerprint in the existing table (see _tenant_union_skip_unchanged). -#}
    {%- set args = build.union -%}
    {%- set union = multitenant_analytics.tenant_union_plan(args.table_name, args.columns, args.database) -%}
    {%- set column = build.incremental_column -%}
    {%- set incremental = column is not none and existing_relation is not none and not should_full_refresh() -%}
    {%- if column is not none and column not in union.types -%}
        {{ exceptions.raise_compiler_error("tenant_union: incremental_column '" ~ column ~ "' is not a column of " ~ args.table_name ~ " (columns: " ~ (union.columns | join(', ')) ~ ").") }}
    {%- endif -%}
    {#- A volatile column is one the model makes anew on every build (a load time). One read from the
        tenants' table is data: left out of the change check, an in-place change to it would never
        reach the table. -#}
    {%- for name in build.volatile_columns if name in union.types and name not in build.unique_key and name != column -%}
        {{ exceptions.raise_compiler_error("tenant_union: volatile_columns names '" ~ name ~ "', a column of the tenants' " ~ args.table_name ~ " table: a change to it that keeps " ~ (column or 'the incremental column') ~ " would never reach " ~ model.name ~ ". Hint: volatile_columns lists only columns the model computes anew on every build, such as now() as loaded_at.") }}
    {%- endfor -%}
    {%- set batches = multitenant_analytics._tenant_union_batches(union, union.tenants, build.batch_size) -%}
    {% do multitenant_analytics.log_tenant_processing_stats(args.table_name, union.tenants | length, build.batch_size, batches | length) %}
    {%- set table_columns = adapter.get_columns_in_relation(existing_relation) if incremental else [] -%}
    {%- set fingerprint_columns = multitenant_analytics._tenant_union_checked_columns(table_columns, build) if incremental else [] -%}
    {{ return({
        'union': union,
        'batches': batches,
        'incremental': incremental,
        'table_columns': table_columns,
        'fingerprint_columns': fingerprint_columns,
        'table_fingerprints': multitenant_analytics.tenant_table_fingerprints(existing_relation, fingerprint_columns, column) if incremental else none,
        'replace_tenants': [],
    }) }}
{% endmacro %}

{% macro _tenant_union_batches(union, tenants, batch_size) %}
    {#- `tenants` in batches of batch_size (tenant_batches), each split further where its statement
        could pass the engine's size limit (tenant_union_max_statement_bytes): the model's SQL and
        1 MiB (the CREATE or INSERT around it, a change check's fingerprint SQL) are kept free. -#}
    {%- set batches = multitenant_analytics.tenant_batches(tenants, batch_size) -%}
    {%- set limit = multitenant_analytics.tenant_union_max_statement_bytes() -%}
    {%- if limit is none -%}{{ return(batches) }}{%- endif -%}
    {%- set budget = limit - (sql.encode('utf-8') | length) - 1048576 -%}
    {{ return(multitenant_analytics.tenant_statement_batches(union, batches, budget)) }}
{% endmacro %}

{% macro tenant_union_max_statement_bytes() %}
    {#- The largest statement, in bytes, the engine takes, or none where no limit matters. -#}
    {{ return(adapter.dispatch('tenant_union_max_statement_bytes', 'multitenant_analytics')()) }}
{% endmacro %}

{% macro default__tenant_union_max_statement_bytes() %}
    {{ return(none) }}
{% endmacro %}

{% macro redshift__tenant_union_max_statement_bytes() %}
    {#- "The maximum size for a single Amazon Redshift SQL statement is 16 MB" (c_redshift-sql), read
        as the smaller 16,000,000. -#}
    {{ return(16000000) }}
{% endmacro %}

{% macro _tenant_union_checked_columns(table_columns, build) %}
    {#- The columns the change check hashes: every column of the table but tenant_id (grouped on)
        and the model's volatile_columns, as [{name, type}]. Every column, not only the key and
        incremental_column: an update that leaves incremental_column as it was is seen too. -#}
    {%- set names = table_columns | map(attribute='name') | list -%}
    {%- for name in build.volatile_columns if name not in names -%}
        {{ exceptions.raise_compiler_error("tenant_union: volatile_columns names '" ~ name ~ "', not a column of " ~ model.name ~ " (columns: " ~ (names | join(', ')) ~ "). Hint: config(volatile_columns=[...]) lists columns of the model's output.") }}
    {%- endfor -%}
    {%- for name in build.volatile_columns if name in build.unique_key or name == build.incremental_column -%}
        {{ exceptions.raise_compiler_error("tenant_union: volatile_columns names '" ~ name ~ "', a unique_key or incremental_column of " ~ model.name ~ ": the change check needs it. Hint: leave it out of volatile_columns.") }}
    {%- endfor -%}
    {%- set checked = [] -%}
    {%- for c in table_columns if c.name != 'tenant_id' and c.name not in build.volatile_columns -%}
        {%- do checked.append({'name': c.name, 'type': c.data_type}) -%}
    {%- endfor -%}
    {{ return(checked) }}
{% endmacro %}

{% macro _tenant_union_skip_unchanged(plan, build, tx) %}
    {#- An incremental build reads only the tenants whose rows in the table may differ from what a
        full build would give now, and replaces all of each such tenant's rows; returns the plan
        with `batches` over those tenants and `replace_tenants` (them and the tenants no longer
        processed, whose rows go).

        Per batch of tenants, one statement (its own transaction: bounded locks) runs the model's
        SQL over the batch and computes, per tenant, a fingerprint of the rows it outputs: the row
        count, max(incremental_column) and the sum of a 64-bit hash of every column of every row
        (but the model's volatile_columns, e.g. a load time); the same fingerprint of the table's
        rows of that tenant came from one query (tenant_fingerprints). A tenant is skipped only
        when the two are equal.
        Comparing with the table itself, not with a note of an earlier read, is what makes this
        safe against every interleaving: a change committed at any time before the check is seen.

        What equal fingerprints prove: the model's rows for the tenant now and the table's rows
        have the same count and the same multiset of rows (up to a 64-bit hash collision between
        two different multisets, a chance of about 2^-64 for a changed tenant). So a deleted row,
        an inserted row (whatever its incremental_column), a row whose key changed, a row that
        became valid or invalid for the model, and any update, also one that leaves
        incremental_column as it was, are all seen. Not seen: a change of the model's SQL that
        keeps its columns (dbt's incremental contract); changed columns or types stop the run
        (_tenant_union_apply). PostgreSQL's statistics
        counters (pg_stat_user_tables) are not used: they are flushed asynchronously and can be
        reset, so unchanged counters do not prove unchanged rows. -#}
    {%- if not plan.incremental -%}{{ return(plan) }}{%- endif -%}
    {%- set in_table = plan.table_fingerprints -%}
    {%- set started = modules.datetime.datetime.now() -%}
    {%- set checks = [] -%}
    {%- for batch in plan.batches -%}
        {%- set query -%}
with {{ multitenant_analytics.tenant_union_batch_cte() }} as (
{{ multitenant_analytics.render_tenant_union(plan.union, batch) }}
)
{{ multitenant_analytics.tenant_fingerprint_sql('(\n' ~ sql ~ '\n) as tenant_union_model', plan.fingerprint_columns, build.incremental_column) }}
        {%- endset -%}
        {%- set shown = batch[:3] | map(attribute='name') | join(', ') ~ (' and ' ~ (batch | length - 3) ~ ' more' if batch | length > 3 else '') -%}
        {%- do checks.append({'sql': query, 'where': 'tenant_union ' ~ model.name ~ ': the change check of batch ' ~ loop.index ~ '/' ~ loop.length ~ ' (tenants ' ~ shown ~ ')'}) -%}
    {%- endfor -%}
    {#- The checks commit one by one: the open transaction (pre-hooks) ends first. -#}
    {% do multitenant_analytics._tenant_union_commit(tx) %}
    {%- set found = multitenant_analytics.tenant_union_run_checks(checks, build.timeouts, tx) -%}
    {%- set changed = [] -%}
    {%- for batch in plan.batches -%}
        {%- set now = found[loop.index0] -%}
        {#- A check that failed (now is none) reads its tenants: their batch names the failing one. -#}
        {%- for t in batch if now is none or now.get(t.name) != in_table.get(t.name) -%}
            {%- do changed.append(t) -%}
        {%- endfor -%}
    {%- endfor -%}
    {% do multitenant_analytics._tenant_union_begin(tx) %}
    {%- set processed = {} -%}
    {%- for t in plan.union.tenants -%}{%- do processed.update({t.name: true}) -%}{%- endfor -%}
    {%- set gone = in_table.keys() | reject('in', processed) | list | sort -%}
    {%- set seconds = (modules.datetime.datetime.now() - started).total_seconds() -%}
    {{ log("tenant_union " ~ model.name ~ ": incremental, " ~ (changed | length) ~ " of " ~ (plan.union.tenants | length) ~ " tenants changed, " ~ (gone | length) ~ " no longer processed (checked in " ~ (seconds | round(2)) ~ " s)", info=true) }}
    {%- do plan.update({
        'batches': multitenant_analytics._tenant_union_batches(plan.union, changed, build.batch_size),
        'replace_tenants': (changed | map(attribute='name') | list) + gone,
    }) -%}
    {{ return(plan) }}
{% endmacro %}

{% macro _tenant_union_build_staging(plan, build, relations, tx) %}
    {#- Every batch into the staging table, each its own statement and transaction (one
        transaction over every tenant table runs out of lock slots). Returns {rows, batch_stats}. -#}
    {%- set counts = [] -%}
    {%- set seconds = [] -%}
    {%- for batch in plan.batches -%}
        {%- set batch_started = modules.datetime.datetime.now() -%}
        {%- set branches = multitenant_analytics.render_tenant_branches(plan.union, batch) -%}
        {%- do counts.extend(multitenant_analytics.tenant_union_run_batch({
            'number': loop.index, 'count': loop.length, 'tenants': batch | map(attribute='name') | list,
            'branches': branches, 'first': loop.first, 'last': loop.last, 'sql': sql, 'relations': relations,
            'timeouts': build.timeouts, 'tx': tx,
        })) -%}
        {%- set batch_seconds = (modules.datetime.datetime.now() - batch_started).total_seconds() -%}
        {%- do seconds.append(batch_seconds | round(4)) -%}
        {%- if build.show_progress -%}
            {{ log("tenant_union " ~ model.name ~ ": batch " ~ loop.index ~ "/" ~ loop.length ~ ", " ~ (batch | length) ~ " tenants (" ~ batch[0].name ~ " .. " ~ batch[-1].name ~ "), " ~ (batch_seconds | round(2)) ~ " s", info=true) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if counts | length != plan.batches | length -%}
        {{ exceptions.raise_compiler_error("tenant_union: " ~ model.name ~ " got the row counts of " ~ (counts | length) ~ " of its " ~ (plan.batches | length) ~ " batches from tenant_union_run_batch. Hint: an adapter's tenant_union_run_batch must return them (see materializations.yml).") }}
    {%- endif -%}
    {%- set batch_stats = [] -%}
    {%- for batch in plan.batches -%}
        {%- do batch_stats.append([batch | length, counts[loop.index0], seconds[loop.index0]]) -%}
    {%- endfor -%}
    {% do adapter.cache_added(relations.staging) %}
    {{ return({'rows': counts | sum, 'batch_stats': batch_stats}) }}
{% endmacro %}

{% macro _tenant_union_batch_sql(batch, union_sql) %}
    {#- The statement that adds one batch to the staging table: the model's compiled SQL, unchanged,
        with the batch CTE it reads defined around it (a WITH is visible in its subqueries). -#}
    {%- set query -%}
with {{ multitenant_analytics.tenant_union_batch_cte() }} as (
{{ union_sql }}
)
select * from (
{{ batch.sql }}
) as tenant_union_model
    {%- endset -%}
    {%- if batch.first -%}
        {{ return(get_create_table_as_sql(False, batch.relations.staging, query)) }}
    {%- endif -%}
    {{ return('insert into ' ~ batch.relations.staging ~ '\n' ~ query) }}
{% endmacro %}

{% macro tenant_union_run_batch(batch) %}
    {#- Runs one batch (see _tenant_union_build_staging for `batch`) and commits it: in the open
        transaction batch.tx if there is one (the first batch, with the pre-hooks and discovery),
        else in a transaction of its own. Returns the row counts it knows of, in batch order:
        [rows] of this batch, or, where counts are read back once, [] until the last batch and
        then those of every batch. -#}
    {{ return(adapter.dispatch('tenant_union_run_batch', 'multitenant_analytics')(batch)) }}
{% endmacro %}

{% macro default__tenant_union_run_batch(batch) %}
    {#- Plain statements: an error is the database's own. -#}
    {%- set union_sql = batch.branches | join('\nunion all\n') -%}
    {% do multitenant_analytics._tenant_union_begin(batch.tx) %}
    {% do multitenant_analytics.tenant_union_set_timeouts(batch.timeouts) %}
    {%- set response = adapter.execute(multitenant_analytics._tenant_union_batch_sql(batch, union_sql), auto_begin=True, fetch=False)[0] -%}
    {% do multitenant_analytics._tenant_union_commit(batch.tx) %}
    {{ return([response.rows_affected if response.rows_affected is not none else 0]) }}
{% endmacro %}

{% macro postgres__tenant_union_run_batch(batch) %}
    {#- One round trip per batch: `begin`, the timeouts, a PL/pgSQL block with the batch's
        statements, and `commit`, sent as one string (dbt's bookkeeping sees no transaction before
        or after it, which is so). The block tells a failure in the tenants' terms: a lock timeout
        names the tenant table that is locked and the connection holding it, a statement timeout
        names the batch's tenants, and any other error is narrowed (only then) to the first tenant
        whose branch fails on its own, by running the batch's statement with that branch alone and
        rolling it back. Each tenant's branch is in the block once (joined there into the union);
        the rows each batch added are kept in a session setting and read with the last batch. -#}
    {%- set q = '$tuq_' ~ (invocation_id | replace('-', '')) ~ '$' -%}
    {%- set mark = '/*' ~ q ~ '*/' -%}
    {%- set statement = multitenant_analytics._tenant_union_batch_sql(batch, mark).split(mark) -%}
    {%- set shown = batch.tenants[:10] | join(', ') ~ (' and ' ~ (batch.tenants | length - 10) ~ ' more' if batch.tenants | length > 10 else '') -%}
    {#- Literals are quoted inline (PostgreSQL: a backslash is an ordinary character), not with a
        macro call each. -#}
    {%- set where = "tenant_union " ~ model.name ~ ": batch " ~ batch.number ~ "/" ~ batch.count ~ " (tenants " ~ shown ~ ")" -%}
    {%- set body -%}
        declare
            added bigint;
            err_state text;
            err_text text;
            culprit text;
            culprit_error text;
            holders text;
            head text := {{ q }}{{ statement[0] }}{{ q }};
            branches text[] := array[{{ q }}{{ batch.branches | join(q ~ ',\n' ~ q) }}{{ q }}]::text[];
            tenants text[] := array['{{ batch.tenants | map('replace', "'", "''") | join("', '") }}']::text[];
            tail text := {{ q }}{{ statement[1] }}{{ q }};
        begin
            begin
                execute head || array_to_string(branches, E'\nunion all\n') || tail;
                get diagnostics added = row_count;
            exception
                when lock_not_available then
                    select string_agg(format('%s.%s held by pid %s (application %L, user %s, %s)', n.nspname, c.relname,
                        a.pid, a.application_name, a.usename, a.state), '; ')
                    into holders
                    from pg_catalog.pg_locks as l
                    inner join pg_catalog.pg_class as c on l.relation = c.oid
                    inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
                    inner join pg_catalog.pg_stat_activity as a on l.pid = a.pid
                    where l.granted and l.mode = 'AccessExclusiveLock' and l.pid <> pg_backend_pid()
                        and n.nspname = any(tenants);
                    raise exception using errcode = 'lock_not_available',
                        message = '{{ (where ~ " waited more than " ~ batch.timeouts.lock_timeout ~ " s (performance.lock_timeout_seconds) for a lock on ") | replace("'", "''") }}'
                            || coalesce(holders, 'a tenant table (its holder has since let go)')
                            || '. Hint: end that session or transaction, or raise performance.lock_timeout_seconds.';
                when query_canceled then
                    raise exception using errcode = 'query_canceled',
                        message = '{{ (where ~ ": ") | replace("'", "''") }}' || sqlerrm
                            || '{{ (" (performance.query_timeout_seconds: " ~ batch.timeouts.query_timeout ~ " s). Hint: lower tenant_processing.batch_size or raise performance.query_timeout_seconds.") | replace("'", "''") }}';
                when others then
                    err_state := sqlstate;
                    err_text := sqlerrm;
                    for i in 1 .. coalesce(array_length(branches, 1), 0) loop
                        begin
                            execute head || branches[i] || tail;
                            -- It worked: undo it (this block's subtransaction) and try the next tenant.
                            raise exception using errcode = 'TU000';
                        exception
                            when sqlstate 'TU000' then
                                null;
                            when others then
                                culprit := tenants[i];
                                culprit_error := sqlerrm;
                                exit;
                        end;
                    end loop;
                    if culprit is not null then
                        raise exception using errcode = err_state,
                            message = '{{ ("tenant_union " ~ model.name ~ ": tenant ") | replace("'", "''") }}' || culprit
                                || '{{ (" breaks batch " ~ batch.number ~ "/" ~ batch.count ~ ": ") | replace("'", "''") }}' || culprit_error
                                || '. Hint: fix or exclude that tenant (tenant_processing.exclude_tenants).';
                    end if;
                    raise exception using errcode = err_state,
                        message = '{{ (where ~ " failed: ") | replace("'", "''") }}' || err_text
                            || ' (every tenant of the batch works on its own). Hint: lower tenant_processing.batch_size.';
            end;
            {%- if batch.first %}
            perform set_config('tenant_union.batch_rows', added::text, false);
            {%- else %}
            perform set_config('tenant_union.batch_rows', current_setting('tenant_union.batch_rows') || ',' || added, false);
            {%- endif %}
        end
    {%- endset -%}
    {%- set own = not batch.tx.open -%}
    {%- set parts = [] -%}
    {%- if own and batch.tx.committed -%}{%- do parts.append('begin') -%}{%- endif -%}
    {%- do parts.append(multitenant_analytics._pg_set_timeouts_sql(batch.timeouts)) -%}
    {%- do parts.append(multitenant_analytics._pg_do(body)) -%}
    {%- do parts.append('commit') -%}
    {%- if batch.last -%}
        {%- do parts.append("select '[' || current_setting('tenant_union.batch_rows') || ']' as batch_rows") -%}
    {%- endif -%}
    {#- The open transaction (the first batch's, with discovery) commits in the string too: dbt's
        bookkeeping then takes it to be open still, which only makes its next begin() send nothing
        (as it does on PostgreSQL anyway) until the materialization's next adapter.commit(). -#}
    {%- set result = adapter.execute(parts | join(';\n'), auto_begin=not own, fetch=batch.last) -%}
    {%- set tx = batch.tx -%}
    {%- set tx.open = false -%}
    {%- set tx.committed = true -%}
    {{ return(fromjson(result[1].rows[0][0]) if batch.last else []) }}
{% endmacro %}

{% macro _pg_set_timeouts_sql(timeouts) -%}
    {#- `set local`: the settings end with the transaction, nothing leaks to later statements. -#}
    set local statement_timeout = {{ (timeouts.query_timeout * 1000) | int }}; set local lock_timeout = {{ (timeouts.lock_timeout * 1000) | int }}
{%- endmacro %}

{% macro tenant_union_set_timeouts(timeouts) %}
    {#- Statement and lock timeouts for the rest of the open transaction. -#}
    {{ return(adapter.dispatch('tenant_union_set_timeouts', 'multitenant_analytics')(timeouts)) }}
{% endmacro %}

{% macro default__tenant_union_set_timeouts(timeouts) %}
    {% do adapter.execute(multitenant_analytics._pg_set_timeouts_sql(timeouts), auto_begin=True) %}
{% endmacro %}

{% macro redshift__tenant_union_set_timeouts(timeouts) %}
    {#- Redshift has statement_timeout (session-wide; the connection closes with the model) and no
        lock_timeout: docs.aws.amazon.com/redshift/latest/dg/r_statement_timeout.html -#}
    {% do adapter.execute("set statement_timeout to " ~ ((timeouts.query_timeout * 1000) | int), auto_begin=True) %}
{% endmacro %}

{% macro _tenant_union_swap(existing_relation, target_relation, build, relations, tx, then) %}
    {#- Opens the swap's transaction (committed by the materialization with hooks, grants and
        docs) and renames in it, then runs the statements `then` (the run log): a reader sees the
        old table or the new one, never none. Both renames are one statement; dbt's relation cache
        is told of them. Returns the old table's new name, to drop after the commit. -#}
    {% do create_indexes(relations.staging) %}
    {%- set backup = none -%}
    {%- set renames = [] -%}
    {%- if existing_relation is not none -%}
        {%- set backup = relations.backup.incorporate(type=existing_relation.type) -%}
        {%- do renames.append(get_rename_sql(existing_relation, adapter.quote_as_configured(backup.identifier, 'identifier'))) -%}
    {%- endif -%}
    {%- do renames.append(get_rename_sql(relations.staging, adapter.quote_as_configured(target_relation.identifier, 'identifier'))) -%}
    {% do multitenant_analytics.tenant_union_swap_in(existing_relation, [renames | join(';\n')] + then, build.timeouts, tx) %}
    {%- if backup is not none -%}{% do adapter.cache_renamed(existing_relation, backup) %}{%- endif -%}
    {% do adapter.cache_renamed(relations.staging, target_relation) %}
    {{ return(backup) }}
{% endmacro %}

{% macro tenant_union_swap_in(existing_relation, statements, timeouts, tx) %}
    {#- Opens the swap's transaction (see _tenant_union_begin), sets the timeouts for it, locks
        existing_relation (if not none) as tenant_union_lock_table does, and runs `statements` in
        it; the caller commits. Dispatched. -#}
    {{ return(adapter.dispatch('tenant_union_swap_in', 'multitenant_analytics')(existing_relation, statements, timeouts, tx)) }}
{% endmacro %}

{% macro default__tenant_union_swap_in(existing_relation, statements, timeouts, tx) %}
    {#- A statement each; the run log's tables locked first (tenant_union_lock_log). -#}
    {% do multitenant_analytics._tenant_union_begin(tx) %}
    {% do multitenant_analytics.tenant_union_lock_log(this, timeouts) %}
    {%- if existing_relation is not none -%}
        {% do multitenant_analytics.tenant_union_lock_table(existing_relation, timeouts) %}
    {%- else -%}
        {% do multitenant_analytics.tenant_union_set_timeouts(timeouts) %}
    {%- endif -%}
    {%- for statement in statements -%}{% do adapter.execute(statement, auto_begin=True) %}{%- endfor -%}
{% endmacro %}

{% macro postgres__tenant_union_swap_in(existing_relation, statements, timeouts, tx) %}
    {#- One round trip: `begin` (when dbt's bookkeeping would not send it), the timeouts, the lock
        and the statements. -#}
    {%- set parts = ['begin'] if (not tx.open and tx.committed) else [] -%}
    {%- set tx.open = true -%}
    {%- if existing_relation is not none -%}
        {%- do parts.append(multitenant_analytics._pg_lock_table_sql(existing_relation, timeouts, 'access exclusive')) -%}
    {%- else -%}
        {%- do parts.append(multitenant_analytics._pg_set_timeouts_sql(timeouts)) -%}
    {%- endif -%}
    {% do adapter.execute((parts + statements) | join(';\n'), auto_begin=True) %}
{% endmacro %}

{% macro tenant_union_finish(relation, backup) %}
    {#- After the swap's commit: drops `backup` (the old table, or an incremental build's staging
        table; none: nothing) and releases the run lock (tenant_union_unlock). Dispatched. -#}
    {{ return(adapter.dispatch('tenant_union_finish', 'multitenant_analytics')(relation, backup)) }}
{% endmacro %}

{% macro default__tenant_union_finish(relation, backup) %}
    {% if backup is not none %}{% do multitenant_analytics._tenant_union_drop(backup) %}{% endif %}
    {% do multitenant_analytics.tenant_union_unlock(relation) %}
{% endmacro %}

{% macro postgres__tenant_union_finish(relation, backup) %}
    {#- One round trip: the drop, then the unlock, each committing on its own. -#}
    {%- set parts = [get_drop_sql(backup)] if backup is not none else [] -%}
    {%- do parts.append(multitenant_analytics._pg_unlock_sql(relation)) -%}
    {% do adapter.execute(parts | join(';\n'), auto_begin=False) %}
    {% if backup is not none %}{% do adapter.cache_dropped(backup) %}{% endif %}
{% endmacro %}

{% macro _tenant_union_apply(existing_relation, plan, build, relations) %}
    {#- The delta must have the table's columns and types, in order: a changed model or a changed
        tenant column needs a rebuild, not a misaligned or truncating insert. With no tenant to
        read, the model's columns come from an empty staging table (the model over one tenant's
        table, no rows). Returns the staging table, for tenant_union_finish to drop. -#}
    {%- if not plan.batches -%}
        {%- set shape = multitenant_analytics.render_tenant_branches(plan.union, plan.union.tenants[:1])[0] ~ ' limit 0' -%}
        {% do adapter.execute(multitenant_analytics._tenant_union_batch_sql({'first': true, 'sql': sql, 'relations': relations}, shape), auto_begin=True) %}
    {%- endif -%}
    {%- set have = [] -%}
    {%- set got = [] -%}
    {%- for c in plan.table_columns -%}{%- do have.append(c.name ~ ' ' ~ c.data_type) -%}{%- endfor -%}
    {%- for c in adapter.get_columns_in_relation(relations.staging) -%}{%- do got.append(c.name ~ ' ' ~ c.data_type) -%}{%- endfor -%}
    {%- if have != got -%}
        {% do adapter.drop_relation(relations.staging) %}
        {% do adapter.commit() %}
        {{ exceptions.raise_compiler_error("tenant_union: the columns of " ~ model.name ~ " changed (table: " ~ (have | join(', ')) ~ "; now: " ~ (got | join(', ')) ~ "); an incremental run cannot apply them. Hint: dbt run --full-refresh --select " ~ model.name ~ " (with the harness: tenant-harness run --full-refresh --select " ~ model.name ~ ").") }}
    {%- endif -%}
    {%- set apply = multitenant_analytics._tenant_union_apply_sql(existing_relation, plan, build, relations) -%}
    {%- if apply | trim -%}
        {% do multitenant_analytics.tenant_union_set_timeouts(build.timeouts) %}
        {% do multitenant_analytics.tenant_union_lock_table(existing_relation, build.timeouts, mode='share row exclusive') %}
        {% do adapter.execute(apply, auto_begin=True) %}
    {%- endif -%}
    {#- The staging table is dropped after the commit (tenant_union_finish): dbt-redshift's
        adapter.drop_relation commits the open transaction first (its fresh_transaction), which
        would commit the delta apart from its run log, hooks and grants. -#}
    {{ return(relations.staging) }}
{% endmacro %}

{% macro _tenant_union_apply_sql(existing_relation, plan, build, relations) %}
    {#- The incremental strategy, run in dbt's transaction: every row of the tenants read again
        (plan.replace_tenants, with those no longer processed) out, the staging rows in; nothing
        when no tenant changed. Only these two tables are locked, whatever the tenant count. -#}
    {%- set apply -%}
        {%- if plan.replace_tenants %}
        delete from {{ existing_relation }}
        where tenant_id in ({{ multitenant_analytics._sql_string_list(plan.replace_tenants) }});
        {%- endif -%}
        {%- if plan.batches %}
        insert into {{ existing_relation }} select * from {{ relations.staging }};
        {%- endif -%}
    {%- endset -%}
    {{ return(apply) }}
{% endmacro %}

{% macro _tenant_union_drop(relation) %}
    {#- adapter.drop_relation without its macro context (costly per call): the statement in a
        transaction of its own (as dbt-redshift drops: its fresh_transaction), then the cache. -#}
    {% do adapter.execute(get_drop_sql(relation), auto_begin=True) %}
    {% do adapter.commit() %}
    {% do adapter.cache_dropped(relation) %}
{% endmacro %}

{% macro _tenant_union_record(target_relation, plan, build, staged) %}
    {#- {sql, seconds}: the statements that write the build's row in tenant_union_runs and its
        tenants' names in tenant_union_tenants, for the swap's transaction, and its seconds. -#}
    {%- set seconds = (modules.datetime.datetime.now() - build.started).total_seconds() -%}
    {%- set run = multitenant_analytics._record_tenant_union_run(target_relation, plan.union.tenants | length, plan.batches | length, build.batch_size, staged.rows, seconds, plan.incremental, staged.batch_stats) -%}
    {%- set tenants = multitenant_analytics._record_tenant_set(target_relation, plan.union.tenants) -%}
    {#- Without their last `;`, so that joined with ';' they make no empty statement (Redshift's
        parser rejects one). -#}
    {%- set lock = multitenant_analytics.tenant_union_log_lock_sql(target_relation) -%}
    {%- set statements = ([lock] if lock else []) + [(run | trim).rstrip(';'), (tenants | trim).rstrip(';')] -%}
    {{ return({'seconds': seconds, 'sql': statements}) }}
{% endmacro %}

{% macro tenant_union_lock(relation, timeouts) %}
    {#- Take this model's run lock (held until tenant_union_unlock or the connection closes),
        waiting up to timeouts.run_wait seconds for another run to finish; then fail naming it.
        Returns the relations in the model's schema whose names start with _tenant_union_prefix,
        as [name, type] rows read under the lock in the same round trip, or none where the
        adapter does not read them (_tenant_union_clear_leftovers lists them then). -#}
    {{ return(adapter.dispatch('tenant_union_lock', 'multitenant_analytics')(relation, timeouts)) }}
{% endmacro %}

{% macro tenant_union_unlock(relation) %}
    {{ return(adapter.dispatch('tenant_union_unlock', 'multitenant_analytics')(relation)) }}
{% endmacro %}

{% macro _tenant_union_lock_key(relation) -%}
    {#- The advisory lock key of a model's table: a 64-bit hash of its full name. -#}
    hashtextextended({{ multitenant_analytics._sql_string('tenant_union:' ~ relation) }}, 0)
{%- endmacro %}

{% macro postgres__tenant_union_lock(relation, timeouts) %}
    {#- A session advisory lock on the model's own connection: it outlives the per-batch commits,
        and a run that dies (even kill -9) loses it with its connection. The wait honours
        lock_timeout; the handler names the connections that hold the lock. -#}
    {%- set key = multitenant_analytics._tenant_union_lock_key(relation) -%}
    {%- set run = model.name ~ ' run ' ~ (invocation_id | replace('-', ''))[:12] -%}
    {%- set before = "tenant_union: model " ~ model.name ~ " (" ~ relation ~ ") is being built by another run, still running after " ~ timeouts.run_wait ~ " s (performance.run_wait_seconds): " -%}
    {%- set after = ". Hint: wait for it to finish, or stop it (select pg_terminate_backend(<pid>)) if it is stuck; the next run drops what it leaves." -%}
    {%- set body -%}
        declare
            holders text;
            own_timeout text := current_setting('lock_timeout');
        begin
            -- The wait is run_wait_seconds; the rest of the transaction (the leftovers' drops, the
            -- pre-hooks, discovery) keeps the session's own lock_timeout.
            perform set_config('lock_timeout', '{{ (timeouts.run_wait * 1000) | int }}', true);
            perform pg_advisory_lock({{ key }});
            perform set_config('lock_timeout', own_timeout, true);
        exception when lock_not_available then
            select coalesce(string_agg(format('pid %s, application %L, user %s, connected since %s',
                a.pid, a.application_name, a.usename, date_trunc('second', a.backend_start)), '; '), 'a run that has since ended')
            into holders
            from pg_catalog.pg_locks as l
            inner join pg_catalog.pg_stat_activity as a on l.pid = a.pid
            where
                l.locktype = 'advisory' and l.granted and l.objsubid = 1
                and ((l.classid::bigint << 32) | l.objid::bigint) = {{ key }};
            raise exception using errcode = 'lock_not_available',
                message = {{ multitenant_analytics._sql_string(before) }} || holders || {{ multitenant_analytics._sql_string(after) }};
        end
    {%- endset -%}
    {%- set prefix = multitenant_analytics._tenant_union_prefix(relation) -%}
    {%- set listing -%}
        select
            c.relname::text as name,
            case c.relkind when 'v' then 'view' when 'm' then 'materialized_view' else 'table' end as type
        from pg_catalog.pg_class as c
        inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
        where
            n.nspname = {{ multitenant_analytics._sql_string(relation.schema) }}
            and c.relkind in ('r', 'p', 'v', 'm')
            and left(c.relname, {{ prefix | length }}) = {{ multitenant_analytics._sql_string(prefix) }}
    {%- endset -%}
    {#- One statement: the wait, the lock, the holder's application_name naming the run, for
        whoever waits on it, and the relations _tenant_union_clear_leftovers looks at. -#}
    {%- set result = adapter.execute(multitenant_analytics._pg_do(body) ~ ";\n"
        ~ "select set_config('application_name', left(current_setting('application_name') || ' tenant_union ' || " ~ multitenant_analytics._sql_string(run) ~ ", 63), false);\n"
        ~ listing, auto_begin=True, fetch=True)[1] -%}
    {%- set rows = [] -%}
    {%- for row in result.rows -%}{%- do rows.append([row[0], row[1]]) -%}{%- endfor -%}
    {{ return(rows) }}
{% endmacro %}

{% macro postgres__tenant_union_unlock(relation) %}
    {#- After the last commit: a statement of its own. -#}
    {% do adapter.execute(multitenant_analytics._pg_unlock_sql(relation), auto_begin=False) %}
{% endmacro %}

{% macro _pg_unlock_sql(relation) -%}
    select pg_advisory_unlock({{ multitenant_analytics._tenant_union_lock_key(relation) }})
{%- endmacro %}

{% macro _pg_do(body) -%}
    {#- A PL/pgSQL DO block, dollar-quoted with a tag no tenant name can hold ahead of time. -#}
    {%- set tag = '$tu_' ~ (invocation_id | replace('-', '')) ~ '$' -%}
    do {{ tag }}
    {{ body }}
    {{ tag }}
{%- endmacro %}

{% macro default__tenant_union_lock(relation, timeouts) %}
    {#- Redshift has no advisory locks. Its documented exclusive lock is LOCK (docs.aws.amazon.com/
        redshift/latest/dg/r_LOCK.html), held to the end of a transaction, while a build spans many.
        So a claim table: under LOCK, a run claims the model in <schema>.tenant_union_claims with its
        session's pid and user; a claim of this user whose pid is no longer in STV_SESSIONS
        (docs.aws.amazon.com/redshift/latest/dg/r_STV_SESSIONS.html) is a dead run's and is taken
        over. Only this user's: STV_SESSIONS shows a regular user only their own sessions, so
        another user's live run would look dead (that claim stays until its run ends, or is
        deleted by hand). Polls until timeouts.run_wait seconds have passed. -#}
    {%- set claims = api.Relation.create(database=relation.database, schema=relation.schema, identifier='tenant_union_claims') -%}
    {%- set name = multitenant_analytics._sql_string(relation | string) -%}
    {%- set run = multitenant_analytics._sql_string(invocation_id) -%}
    {%- set log = multitenant_analytics._tenant_union_log_tables(relation) -%}
    {#- The tables runs of this schema's models share, created in a transaction of their own: each
        transaction that writes them then LOCKs them before anything else, as Amazon's remedy for
        serializable isolation errors asks (c_serial_isolation-serializable-isolation-troubleshooting:
        lock every table at the beginning of the transaction, before any operation). -#}
    {%- set tables -%}
        create table if not exists {{ claims }} (
            model varchar(1024) not null, run_id varchar(64) not null, pid integer not null,
            claimed_at timestamp not null, claimed_by varchar(128) not null
        );
        {{ multitenant_analytics._tenant_union_runs_ddl(log[0]) }};
        {{ multitenant_analytics._tenant_union_tenants_ddl(log[1]) }}
    {%- endset -%}
    {% do adapter.execute(tables, auto_begin=True) %}
    {% do adapter.commit() %}
    {%- set claim -%}
        lock {{ claims }};
        delete from {{ claims }}
        where
            model = {{ name }} and claimed_by = current_user
            and pid not in (select stv_sessions.process from stv_sessions);
        insert into {{ claims }} (model, run_id, pid, claimed_at, claimed_by)
        select {{ name }}, {{ run }}, pg_backend_pid(), getdate(), current_user
        where not exists (select 1 from {{ claims }} where model = {{ name }});
    {%- endset -%}
    {%- set started = modules.datetime.datetime.now() -%}
    {#- dbt's Jinja sandbox allows ranges up to 100,000; run_wait ends the loop long before. -#}
    {%- for attempt in range(100000) -%}
        {% do adapter.execute(claim, auto_begin=True) %}
        {% do adapter.commit() %}
        {#- Read in a new transaction, left open for the materialization to commit. -#}
        {%- set holder = adapter.execute("select run_id, pid, claimed_at, claimed_by, claimed_by = current_user as mine from " ~ claims ~ " where model = " ~ name, auto_begin=True, fetch=True)[1].rows[0] -%}
        {%- if holder[0] == invocation_id -%}{{ return(none) }}{%- endif -%}
        {%- if (modules.datetime.datetime.now() - started).total_seconds() >= timeouts.run_wait -%}
            {%- set msg -%}
                tenant_union: model {{ model.name }} ({{ relation }}) is being built by another run, still running after {{ timeouts.run_wait }} s (performance.run_wait_seconds): run {{ holder[0] }}, pid {{ holder[1] }}, user {{ holder[3] }}, since {{ holder[2] }}.
                {%- if holder[4] %} Hint: wait for it to finish, or stop it (pg_terminate_backend(pid)).
                {%- else %} Hint: wait for it to finish, or stop it (pg_terminate_backend(pid)); this user cannot see {{ holder[3] }}'s sessions (STV_SESSIONS), so it never takes that claim over: if that run is gone, delete from {{ claims }} where run_id = '{{ holder[0] }}'.
                {%- endif -%}
            {%- endset -%}
            {{ exceptions.raise_compiler_error(msg | trim) }}
        {%- endif -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("tenant_union: model " ~ model.name ~ " (" ~ relation ~ ") could not claim its run lock in " ~ claims ~ ". Hint: check that table.") }}
{% endmacro %}

{% macro default__tenant_union_unlock(relation) %}
    {%- set claims = api.Relation.create(database=relation.database, schema=relation.schema, identifier='tenant_union_claims') -%}
    {#- Locked first, as every transaction that writes the claims (default__tenant_union_lock). -#}
    {% do adapter.execute("lock " ~ claims ~ ";\ndelete from " ~ claims ~ " where run_id = " ~ multitenant_analytics._sql_string(invocation_id), auto_begin=True) %}
    {% do adapter.commit() %}
{% endmacro %}

{% macro tenant_union_lock_log(relation, timeouts) %}
    {#- At the start of the transaction that writes the run log (the swap, the incremental apply):
        set the timeouts and lock the run log's tables (_tenant_union_log_tables), where concurrent
        writers of one table must be serialized by hand. Dispatched. -#}
    {{ return(adapter.dispatch('tenant_union_lock_log', 'multitenant_analytics')(relation, timeouts)) }}
{% endmacro %}

{% macro default__tenant_union_lock_log(relation, timeouts) %}
    {#- Redshift: two builds of one schema that each delete from and insert into the run log in
        overlapping transactions are not serializable (c_serial_isolation); LOCK first, in one
        order, makes the second wait for the first's commit
        (c_serial_isolation-serializable-isolation-troubleshooting). The tables exist: the run
        lock created them (default__tenant_union_lock). -#}
    {% do multitenant_analytics.tenant_union_set_timeouts(timeouts) %}
    {% do adapter.execute("lock " ~ (multitenant_analytics._tenant_union_log_tables(relation) | join(', ')), auto_begin=True) %}
{% endmacro %}

{% macro postgres__tenant_union_lock_log(relation, timeouts) %}
    {#- PostgreSQL: row-level writes under read committed need no lock; the run log's tables may
        not exist yet (the swap creates them, in turn with other models' swaps while they are
        missing: postgres__tenant_union_log_lock_sql). -#}
{% endmacro %}

{% macro tenant_union_lock_table(relation, timeouts, mode='access exclusive') %}
    {#- Set the timeouts for the rest of the open transaction (tenant_union_set_timeouts) and lock
        `relation` in it, waiting at most timeouts.lock_timeout seconds: the swap's renames then
        never queue behind a reader, and readers never queue behind the swap for longer than that. -#}
    {{ return(adapter.dispatch('tenant_union_lock_table', 'multitenant_analytics')(relation, timeouts, mode)) }}
{% endmacro %}

{% macro default__tenant_union_lock_table(relation, timeouts, mode) %}
    {#- Redshift's LOCK takes no mode and waits without a timeout. -#}
    {% do multitenant_analytics.tenant_union_set_timeouts(timeouts) %}
    {% do adapter.execute("lock table " ~ relation, auto_begin=True) %}
{% endmacro %}

{% macro postgres__tenant_union_lock_table(relation, timeouts, mode) %}
    {% do adapter.execute(multitenant_analytics._pg_lock_table_sql(relation, timeouts, mode), auto_begin=True) %}
{% endmacro %}

{% macro _pg_lock_table_sql(relation, timeouts, mode) %}
    {#- The timeouts and the lock, as one string. On a lock timeout, name the connections holding
        a lock on the table (pg_locks: the wait is over when the handler runs, so
        pg_blocking_pids() would find none). -#}
    {%- set name = relation.include(database=false) | string -%}
    {%- set before = "tenant_union: model " ~ model.name ~ " waited more than " ~ timeouts.lock_timeout ~ " s (performance.lock_timeout_seconds) for a lock on " ~ name ~ " held by " -%}
    {%- set after = ". Hint: end that session or transaction, or raise performance.lock_timeout_seconds." -%}
    {%- set body -%}
        declare
            holders text;
        begin
            lock table {{ relation }} in {{ mode }} mode;
        exception when lock_not_available then
            select coalesce(string_agg(format('pid %s (application %L, user %s, %s, %s)',
                a.pid, a.application_name, a.usename, a.state, l.mode), '; '), 'a session that has since ended')
            into holders
            from pg_catalog.pg_locks as l
            inner join pg_catalog.pg_stat_activity as a on l.pid = a.pid
            where
                l.relation = {{ multitenant_analytics._sql_string(name) }}::regclass
                and l.granted and l.pid <> pg_backend_pid();
            raise exception using errcode = 'lock_not_available',
                message = {{ multitenant_analytics._sql_string(before) }} || holders || {{ multitenant_analytics._sql_string(after) }};
        end
    {%- endset -%}
    {#- One statement: the timeouts, then the lock. -#}
    {{ return(multitenant_analytics._pg_set_timeouts_sql(timeouts) ~ ';\n' ~ multitenant_analytics._pg_do(body)) }}
{% endmacro %}

{% macro tenant_fingerprint_sql(source, columns, column) %}
    {#- A select of (tenant_id, fingerprint) over the rows of `source` (a relation, or a
        parenthesised query with an alias), one row per tenant: the fingerprint is a text of the
        row count, max(`column`) and the sum of a 64-bit hash of `columns` ([{name, type}]). The same SQL serves the
        table and the model's rows, so equal text is equal fingerprints. Dispatched. -#}
    {{ return(adapter.dispatch('tenant_fingerprint_sql', 'multitenant_analytics')(source, columns, column)) }}
{% endmacro %}

{% macro default__tenant_fingerprint_sql(source, columns, column) %}
    {#- The hash from md5 (Redshift has no 64-bit hash of a row): each column as its length and
        text, or n for NULL, so different rows never share a text. varchar(max), not varchar: a
        cast to VARCHAR without a length is VARCHAR(256) (Redshift docs, r_Character_types), and
        a change past the 256th byte would go unseen. -#}
    {%- set parts = [] -%}
    {%- for c in columns -%}
        {%- set q = 'cast(' ~ multitenant_analytics._quote_ident(c.name) ~ ' as varchar(max))' -%}
        {%- do parts.append("coalesce(cast(len(" ~ q ~ ") as varchar) || ':' || " ~ q ~ ", 'n')") -%}
    {%- endfor -%}
    {%- set query -%}
select
    tenant_id,
    cast(count(*) as varchar) || '/'
    || coalesce(cast(max({{ multitenant_analytics._quote_ident(column) }}) as varchar), '') || '/'
    || coalesce(cast(sum(cast(strtol(left(md5({{ parts | join(" || '|' || ") }}), 15), 16) as decimal(38, 0))) as varchar), '')
    as fingerprint
from {{ source }}
group by tenant_id
    {%- endset -%}
    {{ return(query) }}
{% endmacro %}

{% macro postgres__tenant_fingerprint_sql(source, columns, column) %}
    {#- The hash: hash_record_extended of the columns as a row (PostgreSQL 14+), each column by its
        type's own hash function where the type has one (no text conversion: a third of the cost
        over a million rows), else as its text (json, xml, geometric types, ...). -#}
    {%- set quoted = [] -%}
    {%- for c in columns -%}
        {%- set q = multitenant_analytics._quote_ident(c.name) -%}
        {%- do quoted.append(q if multitenant_analytics._pg_hashable(c.type) else q ~ '::text') -%}
    {%- endfor -%}
    {%- set query -%}
select
    tenant_id,
    count(*) || '/' || coalesce(max({{ multitenant_analytics._quote_ident(column) }})::text, '') || '/'
    || coalesce(sum(hash_record_extended(row({{ quoted | join(', ') }}), 0))::text, '') as fingerprint
from {{ source }}
group by tenant_id
    {%- endset -%}
    {{ return(query) }}
{% endmacro %}

{% macro _pg_hashable(data_type) %}
    {#- Whether PostgreSQL has a hash operator class for a column of this type (as dbt-postgres
        names it, e.g. `character varying(255)`), so hash_record_extended can hash it. -#}
    {%- set hashable = ['smallint', 'integer', 'bigint', 'numeric', 'real', 'double precision', 'text',
        'character varying', 'character', 'boolean', 'date', 'timestamp', 'time', 'uuid', 'bytea',
        'interval', 'jsonb', 'inet', 'cidr', 'macaddr', 'oid'] -%}
    {%- set base = (data_type or '') | lower | replace(' with time zone', '') | replace(' without time zone', '') -%}
    {{ return(base.split('(')[0] | trim in hashable) }}
{% endmacro %}

{% macro tenant_table_fingerprints(relation, columns, column) %}
    {#- {tenant_id: fingerprint} of the rows of an existing tenant_union table (tenant_fingerprint_sql),
        one query in the open transaction. Dispatched. -#}
    {{ return(adapter.dispatch('tenant_table_fingerprints', 'multitenant_analytics')(relation, columns, column)) }}
{% endmacro %}

{% macro default__tenant_table_fingerprints(relation, columns, column) %}
    {#- One result row per tenant: fine where tenants are few or the adapter has no JSON aggregate. -#}
    {%- set out = {} -%}
    {%- for row in run_query(multitenant_analytics.tenant_fingerprint_sql(relation, columns, column)).rows -%}
        {%- do out.update({row[0]: row[1]}) -%}
    {%- endfor -%}
    {{ return(out) }}
{% endmacro %}

{% macro postgres__tenant_table_fingerprints(relation, columns, column) %}
    {#- One JSON value: agate's type inference over thousands of rows would cost seconds. -#}
    {%- set query -%}
        select coalesce(json_object_agg(per_tenant.tenant_id, per_tenant.fingerprint)::text, '{}')
        from ({{ multitenant_analytics.tenant_fingerprint_sql(relation, columns, column) }}) as per_tenant
    {%- endset -%}
    {{ return(fromjson(run_query(query).columns[0].values()[0])) }}
{% endmacro %}

{% macro tenant_union_run_checks(checks, timeouts, tx) %}
    {#- Runs each check ({sql: a tenant_fingerprint_sql over a batch, where: what to call it in an
        error}) in a transaction of its own (bounded locks), with the build's timeouts; returns,
        per check, {tenant_id: fingerprint}, or none where the check failed other than by a
        timeout (its tenants are then read, and their batch names the failing tenant). Starts and
        ends with no transaction open. Dispatched. -#}
    {{ return(adapter.dispatch('tenant_union_run_checks', 'multitenant_analytics')(checks, timeouts, tx)) }}
{% endmacro %}

{% macro default__tenant_union_run_checks(checks, timeouts, tx) %}
    {#- A statement per check, each in its own transaction; an error is the database's own. -#}
    {%- set found = [] -%}
    {%- for check in checks -%}
        {% do multitenant_analytics._tenant_union_begin(tx) %}
        {% do multitenant_analytics.tenant_union_set_timeouts(timeouts) %}
        {%- set out = {} -%}
        {%- for row in run_query(check.sql).rows -%}{%- do out.update({row[0]: row[1]}) -%}{%- endfor -%}
        {% do multitenant_analytics._tenant_union_commit(tx) %}
        {%- do found.append(out) -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}

{% macro postgres__tenant_union_run_checks(checks, timeouts, tx) %}
    {#- Every check in one round trip: a string of `begin; set local <timeouts>; do <check>; commit`
        per check (each its own transaction, as dbt's bookkeeping has none open), whose PL/pgSQL
        block appends the check's JSON to a session setting, read once at the end. A lock or
        statement timeout stops the run naming the batch; any other error makes the check's
        result null (read its tenants). -#}
    {%- set parts = ["select set_config('tenant_union.fingerprints', '', false)"] -%}
    {%- for check in checks -%}
        {%- set body -%}
        begin
            perform set_config('tenant_union.fingerprints', current_setting('tenant_union.fingerprints') || E'\n' || (
                select coalesce(json_object_agg(per_tenant.tenant_id, per_tenant.fingerprint)::text, '{}')
                from (
{{ check.sql }}
                ) as per_tenant
            ), false);
        exception
            when lock_not_available then
                raise exception using errcode = 'lock_not_available',
                    message = {{ multitenant_analytics._sql_string(check.where ~ " waited more than " ~ timeouts.lock_timeout ~ " s (performance.lock_timeout_seconds) for a lock: ") }}
                        || sqlerrm || '. Hint: end the session or transaction holding it, or raise performance.lock_timeout_seconds.';
            when query_canceled then
                raise exception using errcode = 'query_canceled',
                    message = {{ multitenant_analytics._sql_string(check.where ~ ": ") }} || sqlerrm
                        || {{ multitenant_analytics._sql_string(" (performance.query_timeout_seconds: " ~ timeouts.query_timeout ~ " s). Hint: lower tenant_processing.batch_size or raise performance.query_timeout_seconds.") }};
            when others then
                perform set_config('tenant_union.fingerprints', current_setting('tenant_union.fingerprints') || E'\nnull', false);
        end
        {%- endset -%}
        {%- do parts.append('begin') -%}
        {%- do parts.append("set local statement_timeout = " ~ ((timeouts.query_timeout * 1000) | int) ~ "; set local lock_timeout = " ~ ((timeouts.lock_timeout * 1000) | int)) -%}
        {%- do parts.append(multitenant_analytics._pg_do(body)) -%}
        {%- do parts.append('commit') -%}
    {%- endfor -%}
    {%- do parts.append("select current_setting('tenant_union.fingerprints')") -%}
    {%- set result = adapter.execute(parts | join(';\n'), auto_begin=False, fetch=True)[1] -%}
    {%- set found = [] -%}
    {%- for line in result.columns[0].values()[0].split('\n')[1:] -%}{%- do found.append(fromjson(line)) -%}{%- endfor -%}
    {%- if found | length != checks | length -%}
        {{ exceptions.raise_compiler_error("tenant_union " ~ model.name ~ ": " ~ (found | length) ~ " results from " ~ (checks | length) ~ " change checks. Hint: report this; --full-refresh rebuilds.") }}
    {%- endif -%}
    {{ return(found) }}
{% endmacro %}
