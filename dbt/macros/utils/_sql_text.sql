{#- Private helpers that turn names into SQL text. Every identifier and literal built from a tenant's
    schema name goes through these: names can hold quotes, spaces or SQL fragments. -#}

{% macro _quote_ident(name) -%}
    {#- dbt's adapter.quote does not double embedded quotes; a schema named tenant_x"y needs it. -#}
    "{{ name | replace('"', '""') }}"
{%- endmacro %}

{% macro _sql_string(value) -%}
    '{{ value | replace('\\', multitenant_analytics._literal_backslash()) | replace("'", "''") }}'
{%- endmacro %}

{% macro _sql_string_list(values) -%}
    {#- 'a', 'b', ... in one expression: a macro call per value is what makes compile time grow. -#}
    {%- set backslash = multitenant_analytics._literal_backslash() -%}
    '{{ values | map('replace', '\\', backslash) | map('replace', "'", "''") | join("', '") }}'
{%- endmacro %}

{% macro _literal_backslash() -%}
    {#- What a backslash in a value becomes inside a string literal. -#}
    {{- return(adapter.dispatch('_literal_backslash', 'multitenant_analytics')()) -}}
{%- endmacro %}

{% macro default___literal_backslash() -%}
    {#- PostgreSQL (standard_conforming_strings, on by default): a backslash is an ordinary character. -#}
    {{- return('\\') -}}
{%- endmacro %}

{% macro redshift___literal_backslash() -%}
    {#- Redshift reads a backslash in a literal as an escape, so it is doubled (r_QUOTE_LITERAL). -#}
    {{- return('\\\\') -}}
{%- endmacro %}

{% macro _glob_to_like(pattern, escape='!') -%}
    {#- A glob (* any, ? one character, all else literal) as a LIKE pattern with `escape`. -#}
    {%- set out = [] -%}
    {%- for ch in pattern -%}
        {%- if ch == '*' -%}{%- do out.append('%') -%}
        {%- elif ch == '?' -%}{%- do out.append('_') -%}
        {%- elif ch in ['%', '_', escape] -%}{%- do out.append(escape ~ ch) -%}
        {%- else -%}{%- do out.append(ch) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- out | join('') -}}
{%- endmacro %}

{% macro _glob_regex(pattern) -%}
    {#- A glob as a regular expression for modules.re (for include/exclude filters in Jinja). -#}
    {%- set parts = [] -%}
    {%- for ch in pattern -%}
        {%- if ch == '*' -%}{%- do parts.append('.*') -%}
        {%- elif ch == '?' -%}{%- do parts.append('.') -%}
        {%- else -%}{%- do parts.append(modules.re.escape(ch)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- parts | join('') -}}
{%- endmacro %}
