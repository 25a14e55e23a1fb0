{% macro tenant_config() %}
    {#- The effective `tenant_processing` settings: the project's var over these defaults, validated.
        Bad values stop the run with a compile error naming the value and the fix. -#}
    {%- set defaults = {
        'batch_size': 50, 'max_tenant_limit': 2000, 'enable_tenant_filter': false,
        'filtered_tenants': [], 'include_tenants': [], 'exclude_tenants': [], 'missing_table': 'warn',
        'unreadable_tenant': 'error', 'unknown_filter_entry': 'warn', 'max_tenant_drop': 0.2,
        'parallel_group_size': 1,
    } -%}
    {%- set given = var('tenant_processing', {}) -%}
    {%- if given is not mapping -%}
        {{ exceptions.raise_compiler_error("tenant_config: var tenant_processing must be a mapping, got " ~ given ~ ". Hint: see dbt_project.yml vars.") }}
    {%- endif -%}
    {%- set cfg = {} -%}
    {%- do cfg.update(defaults) -%}
    {%- do cfg.update(given) -%}
    {%- for key in cfg if key not in defaults -%}
        {{ exceptions.raise_compiler_error("tenant_config: unknown setting tenant_processing." ~ key ~ ". Hint: known settings are " ~ (defaults.keys() | sort | join(', ')) ~ ".") }}
    {%- endfor -%}
    {%- for key in ['batch_size', 'max_tenant_limit'] -%}
        {%- set value = cfg[key] -%}
        {%- if value is not number or value is boolean or value != (value | int) or value < 1 -%}
            {{ exceptions.raise_compiler_error("tenant_config: tenant_processing." ~ key ~ " must be a whole number >= 1, got " ~ (value | tojson) ~ ". Hint: --vars '{tenant_processing: {" ~ key ~ ": 50}}'.") }}
        {%- endif -%}
    {%- endfor -%}
    {%- for key in ['filtered_tenants', 'include_tenants', 'exclude_tenants'] -%}
        {%- if cfg[key] is string or cfg[key] is not iterable -%}
            {{ exceptions.raise_compiler_error("tenant_config: tenant_processing." ~ key ~ " must be a list, got " ~ (cfg[key] | tojson) ~ ". Hint: [\"tenant_a\", \"tenant_b*\"].") }}
        {%- endif -%}
    {%- endfor -%}
    {%- if cfg.max_tenant_drop is not number or cfg.max_tenant_drop is boolean or cfg.max_tenant_drop < 0 or cfg.max_tenant_drop > 1 -%}
        {{ exceptions.raise_compiler_error("tenant_config: tenant_processing.max_tenant_drop must be a share from 0 to 1, got " ~ (cfg.max_tenant_drop | tojson) ~ ". Hint: 0.2 stops a run with a fifth fewer tenants than the last build; 1 turns the check off.") }}
    {%- endif -%}
    {%- if cfg.parallel_group_size != 1 or cfg.parallel_group_size is boolean -%}
        {#- Batches run one at a time on the model's connection (docs/speed.md says why). -#}
        {%- set msg -%}
            tenant_config: tenant_processing.parallel_group_size is {{ cfg.parallel_group_size | tojson }}, but batches run one at a time on the model's own connection: running them over several connections would need dblink and a password dbt does not pass to macros (docs/speed.md, "Parallel batches"). Hint: remove parallel_group_size (or set it to 1); for more throughput raise tenant_processing.batch_size or run several models at once (dbt --threads).
        {%- endset -%}
        {{ exceptions.raise_compiler_error(msg | trim) }}
    {%- endif -%}
    {%- for key in ['missing_table', 'unreadable_tenant', 'unknown_filter_entry'] if cfg[key] not in ['warn', 'error'] -%}
        {{ exceptions.raise_compiler_error("tenant_config: tenant_processing." ~ key ~ " must be 'warn' or 'error', got " ~ (cfg[key] | tojson) ~ ".") }}
    {%- endfor -%}
    {%- do return(cfg) -%}
{% endmacro %}
