{% macro widen_type(left, right) %}
    {#- The common type of two column types, as PostgreSQL's format_type spells them, or none when
        there is no safe one. int -> bigint -> numeric, real -> double precision, any varchar/char/text
        mix -> text, date -> timestamp -> timestamptz. Never "whichever tenant came first". -#}
    {{ return(adapter.dispatch('widen_type', 'multitenant_analytics')(left, right)) }}
{% endmacro %}

{% macro default__widen_type(left, right) %}
    {%- if left == right -%}{{ return(left) }}{%- endif -%}
    {%- set families = [
        ['smallint', 'integer', 'bigint', 'numeric', 'real', 'double precision'],
        ['character', 'character varying', 'text'],
        ['date', 'timestamp without time zone', 'timestamp with time zone'],
    ] -%}
    {%- set l = left.split('(')[0] | trim -%}
    {%- set r = right.split('(')[0] | trim -%}
    {%- for family in families -%}
        {%- if l in family and r in family -%}
            {%- if family[1] == 'character varying' -%}{{ return('text') }}{%- endif -%}
            {%- set wider = family[[family.index(l), family.index(r)] | max] -%}
            {#- numeric(p,s) of different precisions: unconstrained numeric holds both. -#}
            {{ return(wider) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}

{% macro redshift__widen_type(left, right) %}
    {#- Redshift has no unbounded text (its `text` is varchar(256)): strings widen to varchar(65535). -#}
    {%- set wide = multitenant_analytics.default__widen_type(left, right) -%}
    {{ return('character varying(65535)' if wide == 'text' else wide) }}
{% endmacro %}
