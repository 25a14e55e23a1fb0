{% macro union_tenant_tables(table_name='users', columns=none, batch_size=none, database=none) %}
    {#- UNION ALL of `table_name` across every tenant to process, with a `tenant_id` column holding
        the exact schema name. Columns are the union of all tenants' columns (or `columns`); a column
        a tenant lacks is a typed NULL there; differing types are widened (see widen_type). The
        result is nested in groups of `batch_size` tenants (PostgreSQL plans nested groups far
        faster than one flat union). `database` reads the tenants from another database with
        three-part names (a Zero-ETL database on Redshift). At parse time: an empty placeholder, no
        invented tenants.

        The contract with the tenant_union materialization: at parse time the arguments become the
        model's config `meta.tenant_union` (dbt's place for custom config); at run time, in a
        tenant_union model, the call renders as `select * from <tenant_union_batch_cte()>`, a CTE
        the materialization defines per batch around the model's compiled SQL. -#}
    {%- set args = {'table_name': table_name, 'columns': columns, 'batch_size': batch_size, 'database': database} -%}
    {%- if not execute -%}
        {% do config(meta={'tenant_union': args}) %}
        {{ return('select null as tenant_id where false') }}
    {%- endif -%}
    {%- if flags.WHICH in ['run', 'build'] and config.get('materialized') == 'tenant_union' -%}
        {{ return('select * from ' ~ multitenant_analytics.tenant_union_batch_cte()) }}
    {%- endif -%}
    {%- set plan = multitenant_analytics.tenant_union_plan(table_name, columns, database) -%}
    {%- set size = batch_size or multitenant_analytics.tenant_config().batch_size -%}
    {%- set groups = [] -%}
    {%- for batch in multitenant_analytics.tenant_batches(plan.tenants, size) -%}
        {%- do groups.append('select * from (\n' ~ multitenant_analytics.render_tenant_union(plan, batch) ~ '\n) as tenant_batch_' ~ loop.index) -%}
    {%- endfor -%}
    {{ return(groups | join('\nunion all\n')) }}
{% endmacro %}

{% macro tenant_union_batch_cte() -%}
    {#- The name of the CTE that holds one batch of the union in a tenant_union build; not quoted,
        so it reads the same in the model's compiled SQL and in the materialization. -#}
    __tenant_union_batch
{%- endmacro %}

{% macro tenant_union_plan(table_name='users', columns=none, database=none) %}
    {#- Tenants to process and the output columns [(name, type)], with each tenant's select list.
        One discovery query; the select list is rendered once per distinct column layout, so
        10,000 tenants with the same table cost 10,000 string joins, not 10,000 renders. -#}
    {%- set tenants = multitenant_analytics.get_filtered_tenant_schemas(table_name, database) -%}
    {%- set layouts = {} -%}
    {%- for t in tenants if t.columns_json not in layouts -%}
        {%- set cols = {} -%}
        {%- for pair in fromjson(t.columns_json) -%}{%- do cols.update({pair[0]: pair[1]}) -%}{%- endfor -%}
        {%- do layouts.update({t.columns_json: cols}) -%}
    {%- endfor -%}
    {%- set layouts, sources = multitenant_analytics._tenant_union_case_folded(layouts, tenants, table_name, columns) -%}

    {#- Output columns: first-seen order over tenants in name order; types widened over all tenants. -#}
    {%- set overrides = var('tenant_column_types', {}) -%}
    {%- set types = {} -%}
    {%- set order = [] -%}
    {%- for key, cols in layouts.items() -%}
        {%- for name, type in cols.items() -%}
            {%- if name not in types -%}
                {%- do types.update({name: overrides.get(name, type)}) -%}
                {%- do order.append(name) -%}
            {%- elif name in overrides -%}
                {#- The configured type wins; every tenant's column is cast to it. -#}
            {%- else -%}
                {%- set wider = multitenant_analytics.widen_type(types[name], type) -%}
                {%- if wider is none -%}
                    {{ exceptions.raise_compiler_error("tenant_union_plan: column " ~ table_name ~ "." ~ name ~ " has types '" ~ types[name] ~ "' and '" ~ type ~ "' in different tenants, with no safe common type. Hint: set var tenant_column_types: {" ~ name ~ ": <type>} to cast it.") }}
                {%- endif -%}
                {%- do types.update({name: wider}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if columns is not none -%}
        {%- for name in columns if name not in types -%}
            {{ exceptions.raise_compiler_error("tenant_union_plan: column '" ~ name ~ "' is in no tenant's " ~ table_name ~ ". Hint: columns present: " ~ (order | join(', ')) ~ ".") }}
        {%- endfor -%}
        {%- set order = columns -%}
    {%- endif -%}

    {%- set select_lists = {} -%}
    {%- set quoted_order = [] -%}
    {%- for name in order -%}{%- do quoted_order.append(multitenant_analytics._quote_ident(name)) -%}{%- endfor -%}
    {%- for key, cols in layouts.items() -%}
        {%- set exprs = [] -%}
        {%- set renamed = sources.get(key, {}) -%}
        {%- for name in order -%}
            {%- set q = multitenant_analytics._quote_ident(name) -%}
            {%- set src = multitenant_analytics._quote_ident(renamed[name]) if name in renamed else q -%}
            {%- if name not in cols -%}
                {%- do exprs.append('cast(null as ' ~ types[name] ~ ') as ' ~ q) -%}
            {%- elif cols[name] != types[name] -%}
                {%- do exprs.append('cast(' ~ src ~ ' as ' ~ types[name] ~ ') as ' ~ q) -%}
            {%- elif src != q -%}
                {%- do exprs.append(src ~ ' as ' ~ q) -%}
            {%- else -%}
                {%- do exprs.append(q) -%}
            {%- endif -%}
        {%- endfor -%}
        {#- A tenant whose table is exactly the output (same columns, order and types) is read with
            `*`: a fifth of the SQL to send, parse and log per batch. -#}
        {%- set exact = (cols.keys() | list) == order and exprs | select('in', quoted_order) | list | length == order | length -%}
        {%- do select_lists.update({key: '*' if exact else exprs | join(', ')}) -%}
    {%- endfor -%}
    {{ return({
        'table_name': table_name, 'database': database, 'tenants': tenants, 'columns': order, 'types': types,
        'select_lists': select_lists, 'sources': sources,
        'only': multitenant_analytics.tenant_tables_with_children(table_name, tenants, database),
    }) }}
{% endmacro %}

{% macro _tenant_union_case_folded(layouts, tenants, table_name, columns) %}
    {#- Columns that differ only by case ("Email" in one tenant, email in the others) are one output
        column: read under the common name, with a warning naming the tenant and its column, not
        a column of NULLs for that tenant (whose rows a model's `email is not null` would drop).
        The name used: one asked for in `columns`, else the lower-case spelling (what unquoted SQL
        downstream refers to) if any tenant has it, else the first seen. Returns (layouts with
        those names, {layout: {name: the tenant's own spelling}}). Two columns of one table that
        differ only by case stop the run. -#}
    {%- set asked = columns or [] -%}
    {%- set canonical = {} -%}
    {%- for name in asked -%}{%- do canonical.update({name | lower: name}) -%}{%- endfor -%}
    {%- for cols in layouts.values() -%}
        {%- for name in cols -%}
            {%- set k = name | lower -%}
            {%- if k not in canonical or (name == k and canonical[k] not in asked) -%}
                {%- do canonical.update({k: name}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set folded = {} -%}
    {%- set sources = {} -%}
    {%- for key, cols in layouts.items() -%}
        {%- set normal = {} -%}
        {%- set renamed = {} -%}
        {%- for name, type in cols.items() -%}
            {%- set c = canonical[name | lower] -%}
            {%- if c in normal -%}
                {%- set tenant = (tenants | selectattr('columns_json', 'equalto', key) | first).name -%}
                {{ exceptions.raise_compiler_error("tenant_union_plan: tenant " ~ tenant ~ "'s " ~ table_name ~ " has columns that differ only by case: " ~ (renamed.get(c, c)) ~ ", " ~ name ~ ". Hint: rename one, or exclude the tenant (tenant_processing.exclude_tenants).") }}
            {%- endif -%}
            {%- do normal.update({c: type}) -%}
            {%- if c != name -%}{%- do renamed.update({c: name}) -%}{%- endif -%}
        {%- endfor -%}
        {%- do folded.update({key: normal}) -%}
        {%- if renamed -%}{%- do sources.update({key: renamed}) -%}{%- endif -%}
    {%- endfor -%}
    {%- set seen = {} -%}
    {%- for t in tenants if t.columns_json in sources -%}
        {%- for c, name in sources[t.columns_json].items() -%}
            {%- do seen.setdefault(name ~ '\x00' ~ c, []).append(t.name) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for pair, names in seen.items() -%}
        {%- set name, c = pair.split('\x00') -%}
        {% do exceptions.warn("tenant_union_plan: column " ~ table_name ~ "." ~ name ~ " of tenant(s) " ~ (names[:10] | join(', ')) ~ (' ...' if names | length > 10 else '') ~ " differs from " ~ c ~ " only by case; read as " ~ c ~ ".") %}
    {%- endfor -%}
    {{ return((folded, sources)) }}
{% endmacro %}

{% macro render_tenant_union(plan, tenants) %}
    {#- The flat UNION ALL of `tenants` (a slice of plan.tenants); see render_tenant_branches. -#}
    {{ return(multitenant_analytics.render_tenant_branches(plan, tenants) | join('\nunion all\n')) }}
{% endmacro %}

{% macro render_tenant_branches(plan, tenants) %}
    {#- One `select` per tenant of `tenants` (a slice of plan.tenants), in order, each reading only
        its own table's rows (`only` where it has inheritance children). The common case (no
        inheritance, one column layout, no
        quote, backslash or line break in any name) is rendered in one substitution over the names
        (_plain_tenant_branches); any other goes tenant by tenant (_tenant_branches_each). -#}
    {%- set names = tenants | map(attribute='name') | list -%}
    {%- set layouts = tenants | map(attribute='columns_json') | unique(case_sensitive=true) | list -%}
    {%- if not plan.only and layouts | length == 1
        and not modules.re.search('[\'"\\\\\n]', names | join(''))
        and '\n' not in plan.select_lists[layouts[0]] ~ plan.table_name ~ (plan.database or '') -%}
        {{ return(multitenant_analytics._plain_tenant_branches(plan, names, plan.select_lists[layouts[0]])) }}
    {%- endif -%}
    {{ return(multitenant_analytics._tenant_branches_each(plan, tenants)) }}
{% endmacro %}

{% macro _plain_tenant_branches(plan, names, select_list) %}
    {#- render_tenant_branches for names without quote, backslash or line break, all of one select
        list (no line break in it, the table or the database name), without `only`:
        one regular-expression substitution over the names
        instead of a Jinja loop, which costs about a tenth of a millisecond per tenant. The output is
        the same, branch for branch (tests/unit/test_macros.py). -#}
    {%- set table = multitenant_analytics._quote_ident(plan.table_name) -%}
    {%- set prefix = (multitenant_analytics._quote_ident(plan.database) ~ '.') if plan.database else '' -%}
    {%- set rest = "' as tenant_id, " ~ select_list ~ ' from ' ~ prefix ~ '"' -%}
    {%- set template = "select '\\g<1>" ~ rest.replace('\\', '\\\\') ~ '\\g<1>".' ~ table.replace('\\', '\\\\') -%}
    {%- set parts = modules.re.sub('(?m)^(.+)$', template, names | join('\n')).split('\n') -%}
    {#- The first branch names and types tenant_id; UNION gives the others' literals that type. -#}
    {%- set first = "select cast('" ~ names[0] ~ "' as varchar)" ~ parts[0][("select '" ~ names[0] ~ "'") | length:] -%}
    {{ return([first] + parts[1:]) }}
{% endmacro %}

{% macro _tenant_branches_each(plan, tenants) %}
    {#- render_tenant_branches, tenant by tenant. The quoting of _sql_string and _quote_ident is
        inlined: a macro call per tenant is what makes compile time grow. -#}
    {%- set table = multitenant_analytics._quote_ident(plan.table_name) -%}
    {%- set prefix = (multitenant_analytics._quote_ident(plan.database) ~ '.') if plan.database else '' -%}
    {%- set backslash = multitenant_analytics._literal_backslash() -%}
    {%- set parts = [] -%}
    {%- for t in tenants -%}
        {#- The first branch names and types tenant_id; UNION gives the others' literals that type. -#}
        {%- set literal = "'" ~ t.name.replace('\\', backslash).replace("'", "''") ~ "'" -%}
        {%- set branch = "select " ~ (("cast(" ~ literal ~ " as varchar)") if loop.first else literal) ~ " as tenant_id, "
            ~ plan.select_lists[t.columns_json]
            ~ ' from ' ~ ('only ' if t.name in plan.only else '')
            ~ prefix ~ '"' ~ t.name.replace('"', '""') ~ '".' ~ table -%}
        {%- do parts.append(branch) -%}
    {%- endfor -%}
    {{ return(parts) }}
{% endmacro %}

{% macro tenant_tables_with_children(table_name, tenants, database=none) %}
    {#- The tenants whose `table_name` has inheritance children (a dict name -> true): those are read
        with `only`, so a child table, say another tenant's, does not add its rows to this tenant. A
        partitioned table is not among them: its rows are in its partitions. -#}
    {{ return(adapter.dispatch('tenant_tables_with_children', 'multitenant_analytics')(table_name, tenants, database)) }}
{% endmacro %}

{% macro default__tenant_tables_with_children(table_name, tenants, database) %}
    {#- Redshift has no table inheritance. -#}
    {{ return({}) }}
{% endmacro %}

{% macro postgres__tenant_tables_with_children(table_name, tenants, database) %}
    {#- What discovery found (postgres__get_tenant_schemas: `has_children`); else one catalog query
        (an index range on pg_class.relname), usually returning nothing. -#}
    {%- if not execute or var('offline_tenants', none) is not none -%}{{ return({}) }}{%- endif -%}
    {%- if tenants | rejectattr('has_children', 'defined') | list | length == 0 -%}
        {%- set out = {} -%}
        {%- for t in tenants if t.has_children -%}{%- do out.update({t.name: true}) -%}{%- endfor -%}
        {{ return(out) }}
    {%- endif -%}
    {%- set query -%}
        select coalesce(json_agg(n.nspname)::text, '[]')
        from pg_catalog.pg_class as c
        inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
        where c.relname = {{ multitenant_analytics._sql_string(table_name) }} and c.relkind = 'r' and c.relhassubclass
    {%- endset -%}
    {%- set out = {} -%}
    {%- for name in fromjson(run_query(query).columns[0].values()[0]) -%}{%- do out.update({name: true}) -%}{%- endfor -%}
    {{ return(out) }}
{% endmacro %}
