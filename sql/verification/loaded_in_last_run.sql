-- Rows whose dbt_loaded_at does not belong to the last recorded build of all_users: later than it
-- finished, or (after a full build, which rewrites every row) earlier than it started.
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
        and all_users.dbt_loaded_at < last_run.finished_at - make_interval(secs => last_run.seconds + 1)
    )
