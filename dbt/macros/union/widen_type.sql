{% macro widen_type(left, right) %}
    {#- The common type of two column types, as PostgreSQL's format_type spells them, or none when
        there is no safe one. Exact numbers widen smallint -> integer -> bigint -> numeric, floats
        real -> double precision, and an exact number with a float becomes numeric (a float would
        round big integers); any varchar/char/text mix -> text; date -> timestamp -> timestamptz;
        the same type with different modifiers (varchar(n), numeric(p,s), timestamp(p)) -> the
        unconstrained type. Never "whichever tenant came first". -#}
    {{ return(adapter.dispatch('widen_type', 'multitenant_analytics')(left, right)) }}
{% endmacro %}

{% macro default__widen_type(left, right) %}
    {%- if left == right -%}{{ return(left) }}{%- endif -%}
    {%- set exact = ['smallint', 'integer', 'bigint', 'numeric'] -%}
    {%- set floats = ['real', 'double precision'] -%}
    {%- set families = [
        exact,
        floats,
        ['character', 'character varying', 'text'],
        ['date', 'timestamp without time zone', 'timestamp with time zone'],
        ['time without time zone'],
        ['time with time zone'],
    ] -%}
    {#- The base type: modifiers such as (255), (12,2) or (3) removed wherever they stand. -#}
    {%- set l = modules.re.sub('\\s*\\(\\s*\\d+(\\s*,\\s*\\d+)?\\s*\\)', '', left) | trim -%}
    {%- set r = modules.re.sub('\\s*\\(\\s*\\d+(\\s*,\\s*\\d+)?\\s*\\)', '', right) | trim -%}
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
    {#- Redshift has no unbounded text (its `text` is varchar(256)): strings widen to varchar(65535). -#}
    {%- set wide = multitenant_analytics.default__widen_type(left, right) -%}
    {{ return('character varying(65535)' if wide == 'text' else wide) }}
{% endmacro %}
