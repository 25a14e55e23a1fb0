{% test unique_combination_of_columns(model, combination_of_columns) %}
{#- Rows whose combination of columns occurs more than once (after dbt-utils' test of that name). -#}
select
    {{ combination_of_columns | join(', ') }},
    count(*) as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
