-- dbt's fixed cost for any model: its own `table` materialization of one constant row, in the same
-- project, process and database as all_users (copied into the benchmark's project copy).
{{ config(materialized='table') }}

select 1 as x
