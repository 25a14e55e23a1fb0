{% macro get_filtered_tenant_schemas(table_name='users', database=none) %}
    {#- The tenants to process for `table_name`: discovered (see get_tenant_schemas), then the
        configured filters applied, then tenants lacking the table skipped with a warning (or an
        error, by config). An include entry that names no tenant warns (unknown_filter_entry: error
        stops); an exclude entry that matches nothing is fine. Stops with a clear error for zero
        tenants and past max_tenant_limit. Returns [] at parse time (never invented tenants). -#}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set cfg = multitenant_analytics.tenant_config() -%}
    {%- set registry = var('tenant_registry', none) -%}
    {%- set pattern = var('tenant_schema_pattern', 'tenant_*') -%}
    {%- set found = multitenant_analytics.get_tenant_schemas(table_name, none, database) -%}
    {%- set tenants = found -%}
    {%- do multitenant_analytics._refuse_case_near_misses(found, cfg) -%}

    {%- if cfg.enable_tenant_filter -%}
        {%- set tenants = multitenant_analytics._apply_globs(tenants, cfg.filtered_tenants, 'filtered_tenants', keep=true, unknown=cfg.unknown_filter_entry) -%}
    {%- endif -%}
    {%- if cfg.include_tenants | length > 0 -%}
        {%- set tenants = multitenant_analytics._apply_globs(tenants, cfg.include_tenants, 'include_tenants', keep=true, unknown=cfg.unknown_filter_entry) -%}
    {%- endif -%}
    {%- if cfg.exclude_tenants | length > 0 -%}
        {%- set tenants = multitenant_analytics._apply_globs(tenants, cfg.exclude_tenants, 'exclude_tenants', keep=false, unknown=cfg.unknown_filter_entry) -%}
    {%- endif -%}

    {%- set usable = [] -%}
    {%- set missing = [] -%}
    {%- set unreadable = [] -%}
    {%- for t in tenants -%}
        {%- if not t.has_table -%}{%- do missing.append(t.name) -%}
        {%- elif not t.readable -%}{%- do unreadable.append(t.name) -%}
        {%- else -%}{%- do usable.append(t) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if missing -%}
        {%- do multitenant_analytics._skip_or_stop(missing, (missing | length) ~ " tenant(s) have no table " ~ table_name ~ ": ", 'missing_table', cfg.missing_table, "exclude them (tenant_processing.exclude_tenants) or set missing_table: warn.") -%}
    {%- endif -%}
    {%- if unreadable -%}
        {%- do multitenant_analytics._skip_or_stop(unreadable, "no USAGE/SELECT privilege on " ~ table_name ~ " in " ~ (unreadable | length) ~ " tenant(s): ", 'unreadable_tenant', cfg.unreadable_tenant, "grant usage/select to " ~ target.user ~ " (where a table has row level security, also BYPASSRLS or a policy showing every row), exclude them (tenant_processing.exclude_tenants), or set unreadable_tenant: warn to skip them.") -%}
    {%- endif -%}

    {%- if usable | length > cfg.max_tenant_limit -%}
        {{ exceptions.raise_compiler_error("get_filtered_tenant_schemas: " ~ (usable | length) ~ " tenants exceed max_tenant_limit " ~ cfg.max_tenant_limit ~ ". Hint: raise tenant_processing.max_tenant_limit or filter tenants.") }}
    {%- endif -%}
    {%- if usable | length == 0 -%}
        {%- set source = ("tenant_registry " ~ registry.relation) if registry else ("pattern " ~ (pattern | tojson)) -%}
        {%- set msg -%}
            get_filtered_tenant_schemas: no tenant to process: {{ found | length }} schema(s) match {{ source }} in database {{ database or target.database }}, {{ usable | length }} left after filters with table {{ table_name }}. Hint: check tenant_schema_pattern (or tenant_registry), the filters, and that the tenants were loaded.
        {%- endset -%}
        {{ exceptions.raise_compiler_error(msg) }}
    {%- endif -%}
    {{ return(usable) }}
{% endmacro %}

{% macro _skip_or_stop(names, problem, setting, mode, hint) %}
    {#- Tenants left out for `problem`: stop the run (`setting` is 'error') or warn and skip them. -#}
    {%- set msg = "get_filtered_tenant_schemas: " ~ problem ~ (names[:10] | join(', ')) ~ (' ...' if names | length > 10 else '') -%}
    {%- if mode == 'error' -%}
        {{ exceptions.raise_compiler_error(msg ~ ". Hint: " ~ hint) }}
    {%- endif -%}
    {{ exceptions.warn(msg ~ " (skipped; " ~ setting ~ ": warn)") }}
{% endmacro %}

{% macro _apply_globs(tenants, globs, setting, keep, unknown='warn') %}
    {#- Keep (or drop) tenants matching any glob, case-sensitively: PostgreSQL schema names are, so
        org_3 and "Org_3" are two tenants and an entry names one of them. A keep-glob that matches no
        discovered tenant (a typo, an offboarded customer) warns, or stops the run with `unknown`
        'error'; a drop-glob that matches nothing changes nothing and is fine. -#}
    {%- set matched = {} -%}
    {%- set out = [] -%}
    {%- set flags = modules.re.DOTALL -%}
    {%- set regexes = {} -%}
    {%- for g in globs -%}{%- do regexes.update({g: modules.re.compile(multitenant_analytics._glob_regex(g), flags)}) -%}{%- endfor -%}
    {%- for t in tenants -%}
        {%- set hit = [] -%}
        {%- for g in globs -%}
            {%- if regexes[g].fullmatch(t.name) -%}
                {%- do hit.append(g) -%}
                {%- do matched.update({g: true}) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if (hit | length > 0) == keep -%}{%- do out.append(t) -%}{%- endif -%}
    {%- endfor -%}
    {%- set unmatched = [] -%}
    {%- for g in globs if g not in matched -%}{%- do unmatched.append(g) -%}{%- endfor -%}
    {%- if unmatched and keep -%}
        {%- set names = tenants | map(attribute='name') | list -%}
        {%- set msg -%}
            get_filtered_tenant_schemas: tenant_processing.{{ setting }} names tenants that do not exist: {{ unmatched | join(', ') }}.
            {{- ' ' ~ (names | length) }} tenant(s) exist (pattern '{{ var('tenant_schema_pattern', 'tenant_*') }}'):
            {{- ' ' ~ (names[:10] | join(', ')) ~ (', ... ' ~ names[-1] if names | length > 10 else '') }}.
        {%- endset -%}
        {%- if unknown == 'error' -%}
            {{ exceptions.raise_compiler_error(msg ~ " Hint: use one of these names, or a glob such as tenant_a*.") }}
        {%- endif -%}
        {{ exceptions.warn(msg ~ " (ignored; tenant_processing.unknown_filter_entry: warn)") }}
    {%- endif -%}
    {{ return(out) }}
{% endmacro %}

{% macro _refuse_case_near_misses(found, cfg) %}
    {#- A filter entry that matches no discovered tenant but matches some ignoring case is a wrong
        spelling (filters match exactly): stop, naming them, rather than read or drop the wrong
        schema. Checked against every discovered tenant, so an entry for a tenant an earlier filter
        already left out is not reported. -#}
    {%- set names = found | map(attribute='name') | list -%}
    {%- set settings = (['filtered_tenants'] if cfg.enable_tenant_filter else []) + ['include_tenants', 'exclude_tenants'] -%}
    {%- for setting in settings -%}
        {%- for g in cfg[setting] -%}
            {%- set exact = modules.re.compile(multitenant_analytics._glob_regex(g), modules.re.DOTALL) -%}
            {%- set loose = modules.re.compile(multitenant_analytics._glob_regex(g), modules.re.DOTALL + modules.re.IGNORECASE) -%}
            {%- set near = [] -%}
            {%- set hit = namespace(exact=false) -%}
            {%- for name in names -%}
                {%- if exact.fullmatch(name) -%}{%- set hit.exact = true -%}
                {%- elif loose.fullmatch(name) -%}{%- do near.append(name) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- if near and not hit.exact -%}
                {%- set msg -%}
                    get_filtered_tenant_schemas: tenant_processing.{{ setting }} entry '{{ g }}' matches no tenant; {{ near[:10] | join(', ') }}{{ ' ...' if near | length > 10 }} {{ 'differs' if near | length == 1 else 'differ' }} from it only by case, and filter entries match schema names exactly, as PostgreSQL compares them. Hint: spell the entry as the schema is named ({{ near[0] }}), or list each spelling you mean.
                {%- endset -%}
                {{ exceptions.raise_compiler_error(msg | trim) }}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
{% endmacro %}
