-- Rows whose dbt_loaded_at does not belong to the last recorded build of all_users: later than it
-- finished, or (after a full build, which rewrites every row) earlier than it started.
-- Redshift: dateadd() for PostgreSQL's make_interval().
-- requires: tenant_union_runs
with last_run as (
    select
        tenant_union_runs.finished_at,
        tenant_union_runs.seconds,
        tenant_union_runs.incremental
    from tenant_union_runs
    where tenant_union_runs.model = 'all_users'
    order by tenant_union_runs.finished_at desc
    limit 1
)

select
    all_users.tenant_id,
    all_users.user_id,
    all_users.dbt_loaded_at,
    last_run.finished_at
from all_users
cross join last_run
where
    all_users.dbt_loaded_at > last_run.finished_at
    or (
        not last_run.incremental
        and all_users.dbt_loaded_at < dateadd(second, -cast(ceiling(last_run.seconds + 1) as integer), last_run.finished_at)
    )
