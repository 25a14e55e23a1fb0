{% macro get_tenant_schemas(table_name='users', pattern=none, database=none) %}
    {#- Every tenant schema (in `database`, default the target's), with whether it has `table_name`,
        whether we may read it, and its columns: one metadata query per pattern, whatever the tenant
        count. Tenants are the schemas matching var `tenant_schema_pattern` (a glob or a list of
        globs), or with var `tenant_registry` ({relation, column, where}) the names a registry table
        lists. System schemas (pg_*, information_schema), the schemas this project builds into and
        the harness's own (harness_truth) are never tenants. Returns a list of {name, has_table,
        readable, columns_json, has_children} in name order (has_children: the table has
        inheritance children; never on Redshift); [] at parse time.
        With var `offline_tenants` ({names: [...], columns: [[name, type], ...]}) no query is made:
        for compiling without a database (e.g. for Redshift, offline). -#}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set registry = var('tenant_registry', none) -%}
    {%- set offline = var('offline_tenants', none) -%}
    {%- if pattern is none -%}
        {%- set pattern = '*' if registry else var('tenant_schema_pattern', 'tenant_*') -%}
    {%- endif -%}
    {%- set found = {} -%}
    {%- for p in multitenant_analytics._tenant_patterns(pattern) -%}
        {%- if offline is not none -%}
            {%- set batch = multitenant_analytics._offline_tenant_schemas(offline, p) -%}
        {%- else -%}
            {%- set batch = adapter.dispatch('get_tenant_schemas', 'multitenant_analytics')(table_name, p, database or target.database) -%}
        {%- endif -%}
        {%- for t in batch if t.name not in found -%}{%- do found.update({t.name: t}) -%}{%- endfor -%}
    {%- endfor -%}
    {%- set listed = multitenant_analytics._registry_tenants(registry, found, database) if registry else none -%}
    {%- set reserved = multitenant_analytics._non_tenant_schemas() -%}
    {%- set tenants = [] -%}
    {%- for name in found.keys() | sort(case_sensitive=true) -%}
        {%- if name[:3] != 'pg_' and name not in reserved and (listed is none or name in listed) -%}
            {%- do tenants.append(found[name]) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(tenants) }}
{% endmacro %}

{% macro _tenant_patterns(pattern) %}
    {#- var tenant_schema_pattern as a list of globs: one glob, or a non-empty list of them. -#}
    {%- set patterns = [pattern] if pattern is string else pattern -%}
    {%- if patterns is not iterable or patterns is mapping or patterns | length == 0 or patterns | reject('string') | list | length > 0 -%}
        {%- set msg -%}
            get_tenant_schemas: tenant_schema_pattern must be a glob or a non-empty list of globs, got {{ pattern | tojson }}. Hint: "tenant_*" or ["tenant_*", "cust_*"].
        {%- endset -%}
        {{ exceptions.raise_compiler_error(msg) }}
    {%- endif -%}
    {{ return(patterns) }}
{% endmacro %}

{% macro _non_tenant_schemas() %}
    {#- Schemas that are never tenants whatever the pattern: information_schema, the harness's truth,
        and every schema this project builds into (the target schema, custom schemas, the schemas
        data tests store their failures in: the default audit schema and any a test's config names).
        pg_* names are left out by get_tenant_schemas: PostgreSQL reserves the prefix (in lower case:
        "PG_x" is a schema like any other) for itself. -#}
    {%- set out = {'information_schema': true, 'harness_truth': true} -%}
    {%- for s in [target.schema, target.schema ~ '_dbt_test__audit'] -%}
        {%- do out.update({s: true, s | lower: true}) -%}
    {%- endfor -%}
    {%- for node in graph.nodes.values() if node.resource_type in ['model', 'seed', 'snapshot', 'test'] and node.schema -%}
        {%- do out.update({node.schema: true, node.schema | lower: true}) -%}
    {%- endfor -%}
    {{ return(out) }}
{% endmacro %}

{% macro _registry_tenants(registry, found, database) %}
    {#- The tenant names var tenant_registry's table lists: {relation: "public.customers", column:
        "schema_name", where: "active"} (`where`, optional, is SQL the project writes). Names without a
        schema are reported (a warning; tenant_processing.unknown_filter_entry: error stops). -#}
    {%- if registry is not mapping or not registry.get('relation') or not registry.get('column') -%}
        {%- set msg -%}
            get_tenant_schemas: tenant_registry must be a mapping with relation and column, got {{ registry | tojson }}. Hint: {relation: "public.customers", column: "schema_name"}.
        {%- endset -%}
        {{ exceptions.raise_compiler_error(msg) }}
    {%- endif -%}
    {%- set unknown = [] -%}
    {%- for key in registry if key not in ['relation', 'column', 'where'] -%}{%- do unknown.append(key) -%}{%- endfor -%}
    {%- if unknown -%}
        {{ exceptions.raise_compiler_error("get_tenant_schemas: unknown tenant_registry key(s) " ~ (unknown | join(', ')) ~ ". Hint: relation, column, where.") }}
    {%- endif -%}
    {%- set parts = [] -%}
    {%- for part in registry.relation.split('.') -%}{%- do parts.append(multitenant_analytics._quote_ident(part)) -%}{%- endfor -%}
    {%- set query -%}
        select distinct cast(registry.{{ multitenant_analytics._quote_ident(registry.column) }} as varchar(256)) as tenant
        from {{ parts | join('.') }} as registry
        where registry.{{ multitenant_analytics._quote_ident(registry.column) }} is not null
        {%- if registry.get('where') %} and ({{ registry.where }}){% endif %}
    {%- endset -%}
    {%- set listed = {} -%}
    {%- for name in run_query(query).columns[0].values() -%}{%- do listed.update({name: true}) -%}{%- endfor -%}
    {%- set absent = [] -%}
    {%- for name in listed.keys() | sort(case_sensitive=true) if name not in found -%}{%- do absent.append(name) -%}{%- endfor -%}
    {%- if absent -%}
        {%- set cfg = multitenant_analytics.tenant_config() -%}
        {%- do multitenant_analytics._skip_or_stop(absent, "tenant_registry " ~ registry.relation ~ " lists " ~ (absent | length) ~ " tenant(s) with no schema: ", 'unknown_filter_entry', cfg.unknown_filter_entry, "drop them from the registry (or its `where`), or create their schemas.") -%}
    {%- endif -%}
    {{ return(listed) }}
{% endmacro %}

{% macro default__get_tenant_schemas(table_name, pattern, database) %}
    {{ exceptions.raise_compiler_error("get_tenant_schemas: no discovery query for adapter '" ~ adapter.type() ~ "'. Hint: add a " ~ adapter.type() ~ "__get_tenant_schemas macro.") }}
{% endmacro %}

{% macro _offline_tenant_schemas(offline, pattern) %}
    {#- offline_tenants.columns for every tenant; columns_by_tenant: {name: [[column, type], ...]}
        gives some tenants other columns (to compile type widening offline). -#}
    {%- set columns_json = (offline.get('columns') or []) | tojson -%}
    {%- set own = offline.get('columns_by_tenant') or {} -%}
    {%- set rx = modules.re.compile(multitenant_analytics._glob_regex(pattern), modules.re.IGNORECASE + modules.re.DOTALL) -%}
    {%- set tenants = [] -%}
    {%- for name in offline.get('names') or [] if rx.fullmatch(name) -%}
        {%- set columns = (own[name] | tojson) if name in own else columns_json -%}
        {%- do tenants.append({'name': name, 'has_table': true, 'readable': true, 'columns_json': columns, 'has_children': false}) -%}
    {%- endfor -%}
    {{ return(tenants) }}
{% endmacro %}

{% macro postgres__get_tenant_schemas(table_name, pattern, database) %}
    {#- pg_catalog rather than information_schema: the views filter by privilege row by row and are
        several times slower with thousands of schemas. Tenants live in the current database:
        PostgreSQL cannot read another database's catalog. -#}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- if database | lower != target.database | lower -%}
        {{ exceptions.raise_compiler_error("get_tenant_schemas: PostgreSQL reads tenants from the current database only, got database '" ~ database ~ "' (connected to '" ~ target.database ~ "'). Hint: on PostgreSQL set zeroetl_database to the target's database.") }}
    {%- endif -%}
    {#- One row, one JSON value: agate's type inference over 10,000 rows would cost seconds. Each
        distinct column list is sent once, the tenants refer to it by its place: tenants mostly
        share one layout, and a list per tenant was megabytes of JSON at 50,000 tenants. Whether a
        tenant's table has inheritance children comes along (tenant_tables_with_children). -#}
    {%- set query -%}
        with tenant as (
            select
                n.nspname::text as schema_name,
                c.oid is not null as has_table,
                coalesce(c.relkind = 'r' and c.relhassubclass, false) as has_children,
                has_schema_privilege(n.oid, 'USAGE')
                and (c.oid is null or has_table_privilege(c.oid, 'SELECT') and (
                    -- Row level security the role does not bypass would return some rows, or none:
                    -- a silently partial table. Superusers and BYPASSRLS roles bypass it; so does
                    -- the table's owner unless it is forced.
                    not c.relrowsecurity
                    or (select r.rolsuper or r.rolbypassrls from pg_catalog.pg_roles as r where r.rolname = current_user)
                    or (pg_has_role(c.relowner, 'USAGE') and not c.relforcerowsecurity)
                )) as readable,
                -- The layout as plain values (name, type oid, modifier), one text per column: a
                -- tenant's columns are rendered as JSON with format_type() once per distinct layout
                -- (below), not once per tenant, the costliest part of this query at 10,000 tenants.
                coalesce((
                    select array_agg(a.attname::text || ' ' || a.atttypid || ' ' || a.atttypmod order by a.attnum)
                    from pg_catalog.pg_attribute as a
                    where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                ), '{}') as layout_key,
                c.oid as relid
            from pg_catalog.pg_namespace as n
            -- A lateral lookup by (name, schema) per tenant: always one index probe (`limit 1`
            -- keeps the planner from flattening it into a join; the pair is unique anyway). A plain
            -- join was planned as a 50M-row nested loop with catalog statistics stale after a bulk
            -- load; to_regclass() would fail on schemas we may not use.
            left join lateral (
                select t.oid, t.relkind, t.relhassubclass, t.relrowsecurity, t.relforcerowsecurity, t.relowner
                from pg_catalog.pg_class as t
                where
                    t.relnamespace = n.oid
                    and t.relname = {{ multitenant_analytics._sql_string(table_name) }}
                    and t.relkind in ('r', 'p', 'v', 'm', 'f')
                limit 1
            ) as c on true
            where n.nspname ilike {{ multitenant_analytics._sql_string(multitenant_analytics._glob_to_like(pattern)) }} escape '!'
        ),

        layout as (
            select
                tenant.layout_key,
                -- (name, type) pairs of any one tenant table of the layout: all have the same.
                coalesce((
                    select json_agg(
                        json_build_array(a.attname, format_type(a.atttypid, a.atttypmod)) order by a.attnum
                    )::text
                    from pg_catalog.pg_attribute as a
                    where a.attrelid = min(tenant.relid) and a.attnum > 0 and not a.attisdropped
                ), '[]') as columns_json,
                (row_number() over (order by tenant.layout_key) - 1)::integer as place
            from tenant
            group by tenant.layout_key
        )

        select json_build_array(
            coalesce((select json_agg(layout.columns_json order by layout.place) from layout), '[]'),
            coalesce((
                select json_agg(json_build_array(
                    tenant.schema_name, tenant.has_table, tenant.readable, layout.place, tenant.has_children
                ) order by tenant.schema_name collate "C")
                from tenant
                inner join layout on tenant.layout_key = layout.layout_key
            ), '[]')
        )::text as tenants
    {%- endset -%}
    {%- set found = fromjson(run_query(query).columns[0].values()[0]) -%}
    {%- set layouts = found[0] -%}
    {%- set tenants = [] -%}
    {%- for row in found[1] -%}
        {%- do tenants.append({'name': row[0], 'has_table': row[1], 'readable': row[2], 'columns_json': layouts[row[3]], 'has_children': row[4]}) -%}
    {%- endfor -%}
    {{ return(tenants) }}
{% endmacro %}

{% macro redshift__get_tenant_schemas(table_name, pattern, database) %}
    {#- Redshift: the cross-database catalogue views SVV_ALL_SCHEMAS / SVV_ALL_TABLES /
        SVV_ALL_COLUMNS, which also cover a Zero-ETL database (three-part names into another
        database's information_schema do not work on Redshift). One query, a row per column.
        These views list only what the role may see (r_SVV_ALL_COLUMNS), so an unreadable tenant
        is absent rather than unreadable: the tenant-count guard (tenant_count_guard) catches that.
        Reading another database (Zero-ETL), only tables in the Synced state can be queried
        (mgmt/zero-etl.reqs-lims): the others are skipped with a warning naming them, from
        SVV_INTEGRATION_TABLE_STATE (r_SVV_INTEGRATION_TABLE_STATE). -#}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set zero_etl = database | lower != target.database | lower -%}
    {%- set query -%}
        select
            s.schema_name,
            t.table_name is not null as has_table,
            c.column_name,
            c.data_type,
            c.character_maximum_length,
            c.numeric_precision,
            c.numeric_scale,
            {% if zero_etl -%}
            trim(st.table_state) as table_state
            {%- else -%}
            cast(null as varchar) as table_state
            {%- endif %}
        from svv_all_schemas as s
        left join svv_all_tables as t
            on
                s.database_name = t.database_name
                and s.schema_name = t.schema_name
                and t.table_name = {{ multitenant_analytics._sql_string(table_name) }}
        left join svv_all_columns as c
            on
                t.database_name = c.database_name
                and t.schema_name = c.schema_name
                and t.table_name = c.table_name
        {% if zero_etl -%}
        left join svv_integration_table_state as st
            on
                t.database_name = trim(st.target_database)
                and t.schema_name = trim(st.schema_name)
                and t.table_name = trim(st.table_name)
        {% endif -%}
        where
            s.database_name = {{ multitenant_analytics._sql_string(database) }}
            and lower(s.schema_name) like lower({{ multitenant_analytics._sql_string(multitenant_analytics._glob_to_like(pattern)) }}) escape '!'
        order by s.schema_name, c.ordinal_position
    {%- endset -%}
    {%- set tenants = [] -%}
    {%- set states = {} -%}
    {%- set current = namespace(name=none, has_table=false, columns=[]) -%}
    {%- for row in run_query(query).rows -%}
        {%- if row[0] != current.name -%}
            {%- if current.name is not none -%}
                {%- do tenants.append({'name': current.name, 'has_table': current.has_table, 'readable': true, 'columns_json': current.columns | tojson, 'has_children': false}) -%}
            {%- endif -%}
            {%- set current.name = row[0] -%}
            {%- set current.has_table = row[1] -%}
            {%- set current.columns = [] -%}
            {%- if row[1] -%}{%- do states.update({row[0]: row[7]}) -%}{%- endif -%}
        {%- endif -%}
        {%- if row[2] is not none -%}
            {%- do current.columns.append([row[2], multitenant_analytics._redshift_type(row[3], row[4], row[5], row[6])]) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if current.name is not none -%}
        {%- do tenants.append({'name': current.name, 'has_table': current.has_table, 'readable': true, 'columns_json': current.columns | tojson, 'has_children': false}) -%}
    {%- endif -%}
    {{ return(multitenant_analytics._synced_tenants(tenants, states, table_name, database) if zero_etl else tenants) }}
{% endmacro %}

{% macro _synced_tenants(tenants, states, table_name, database) %}
    {#- Tenants whose table is in the Synced state (or who have no table: the caller handles those);
        the others skipped with a warning naming each and its state. With no state at all the role
        cannot see SVV_INTEGRATION_TABLE_STATE (superusers only by default): stop rather than guess. -#}
    {%- if states and states.values() | select | list | length == 0 -%}
        {%- set msg -%}
            get_tenant_schemas: no Zero-ETL table state visible for the {{ states | length }} {{ table_name }} table(s) in database {{ database }} (SVV_INTEGRATION_TABLE_STATE is empty for this role). Hint: grant role sys:monitor to {{ target.user }} (see docs/redshift.md), or read a database that is not a Zero-ETL target.
        {%- endset -%}
        {{ exceptions.raise_compiler_error(msg | trim) }}
    {%- endif -%}
    {%- set synced = [] -%}
    {%- set skipped = [] -%}
    {%- for t in tenants -%}
        {%- set state = states.get(t.name) -%}
        {%- if not t.has_table or state == 'Synced' -%}
            {%- do synced.append(t) -%}
        {%- else -%}
            {%- do skipped.append(t.name ~ '.' ~ table_name ~ ' (' ~ (state or 'no state') ~ ')') -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if skipped -%}
        {{ exceptions.warn("get_tenant_schemas: " ~ (skipped | length) ~ " Zero-ETL table(s) not in state Synced skipped (only Synced tables can be queried): " ~ (skipped[:10] | join(', ')) ~ (' ...' if skipped | length > 10 else '')) }}
    {%- endif -%}
    {{ return(synced) }}
{% endmacro %}

{% macro _redshift_type(data_type, char_length, precision, scale) %}
    {#- A column type as PostgreSQL's format_type spells it, from SVV_ALL_COLUMNS' parts. -#}
    {%- if data_type in ['character varying', 'character'] and char_length is not none -%}
        {{ return(data_type ~ '(' ~ (char_length | int) ~ ')') }}
    {%- elif data_type == 'numeric' and precision is not none -%}
        {{ return('numeric(' ~ (precision | int) ~ ',' ~ ((scale or 0) | int) ~ ')') }}
    {%- endif -%}
    {{ return(data_type) }}
{% endmacro %}
