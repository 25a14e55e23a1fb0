{% macro widen_type(left, right) %}
    {#- The common type of two column types, as PostgreSQL's format_type spells them, or none when
        there is no safe one. Exact numbers widen smallint -> integer -> bigint -> numeric, floats
        real -> double precision; any varchar/char/text mix -> text; date -> timestamp (a naive
        timestamp with a timestamptz has none: the cast would read it in the session's time zone,
        so the result would depend on who runs the build); the same type with different modifiers (varchar(n), timestamp(p)) -> the
        unconstrained type. How exact numbers meet decimals and floats is the engine's call (see
        the variants). Never "whichever tenant came first". -#}
    {{ return(adapter.dispatch('widen_type', 'multitenant_analytics')(left, right)) }}
{% endmacro %}

{% macro default__widen_type(left, right) %}
    {#- PostgreSQL: an exact number with a float, and numeric(p,s) with different modifiers, become
        bare `numeric`, which there has no precision limit (any digits before and after the point),
        so no value is rounded; a float would round big integers. -#}
    {%- if left == right -%}{{ return(left) }}{%- endif -%}
    {%- set exact = ['smallint', 'integer', 'bigint', 'numeric'] -%}
    {%- set floats = ['real', 'double precision'] -%}
    {%- set families = [
        exact,
        floats,
        ['character', 'character varying', 'text'],
        ['date', 'timestamp without time zone'],
        ['timestamp with time zone'],
        ['time without time zone'],
        ['time with time zone'],
    ] -%}
    {%- set l = multitenant_analytics._base_type(left) -%}
    {%- set r = multitenant_analytics._base_type(right) -%}
    {%- if (l in exact and r in floats) or (l in floats and r in exact) -%}
        {{ return('numeric') }}
    {%- endif -%}
    {%- for family in families -%}
        {%- if l in family and r in family -%}
            {%- if family[1] == 'character varying' -%}{{ return('text') }}{%- endif -%}
            {{ return(family[[family.index(l), family.index(r)] | max]) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}

{% macro redshift__widen_type(left, right) %}
    {#- Redshift's bare numeric is numeric(18,0) and decimals stop at 38 digits (r_Numeric_types201):
        a decimal meeting another exact type becomes numeric(p,s) wide enough for the largest integer
        part and the largest scale of both, or none past 38 digits (the caller names the column).
        An exact number with a float becomes double precision: no decimal holds every float.
        Strings widen to varchar(65535), the widest there is (Redshift's text is varchar(256)). -#}
    {%- if left == right -%}{{ return(left) }}{%- endif -%}
    {%- set l = multitenant_analytics._exact_digits(left) -%}
    {%- set r = multitenant_analytics._exact_digits(right) -%}
    {%- set floats = ['real', 'double precision'] -%}
    {%- if l and r and (l.decimal or r.decimal) -%}
        {%- set scale = [l.scale, r.scale] | max -%}
        {%- set precision = [l.digits - l.scale, r.digits - r.scale] | max + scale -%}
        {{ return('numeric(' ~ precision ~ ',' ~ scale ~ ')' if precision <= 38 else none) }}
    {%- endif -%}
    {%- if (l and multitenant_analytics._base_type(right) in floats) or (r and multitenant_analytics._base_type(left) in floats) -%}
        {{ return('double precision') }}
    {%- endif -%}
    {%- set wide = multitenant_analytics.default__widen_type(left, right) -%}
    {{ return('character varying(65535)' if wide == 'text' else wide) }}
{% endmacro %}

{% macro _base_type(type) %}
    {#- The type without modifiers such as (255), (12,2) or (3), wherever they stand. -#}
    {{ return(modules.re.sub('\\s*\\(\\s*\\d+(\\s*,\\s*\\d+)?\\s*\\)', '', type) | trim) }}
{% endmacro %}

{% macro _exact_digits(type) %}
    {#- {digits, scale, decimal} of an exact number type on Redshift (bare numeric is numeric(18,0);
        the integers hold 5, 10 and 19 digits), or none for any other type. -#}
    {%- set integers = {'smallint': 5, 'integer': 10, 'bigint': 19} -%}
    {%- set base = multitenant_analytics._base_type(type) -%}
    {%- if base in integers -%}{{ return({'digits': integers[base], 'scale': 0, 'decimal': false}) }}{%- endif -%}
    {%- if base not in ['numeric', 'decimal'] -%}{{ return(none) }}{%- endif -%}
    {%- set m = modules.re.search('\\(\\s*(\\d+)\\s*(?:,\\s*(\\d+)\\s*)?\\)', type) -%}
    {%- if m is none -%}{{ return({'digits': 18, 'scale': 0, 'decimal': true}) }}{%- endif -%}
    {{ return({'digits': m.group(1) | int, 'scale': (m.group(2) or 0) | int, 'decimal': true}) }}
{% endmacro %}
