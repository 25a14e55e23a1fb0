-- Rows whose dbt_loaded_at does not belong to the last recorded build of all_users: later than it
-- finished, or, after a full build (which rewrites every row), no later than the build before it
-- finished. Ordering, not elapsed time: the run's own seconds are measured by dbt, its finished_at
-- by the database, and the gap between the two grows with the machine's load. The last bound,
-- ten minutes before the build's start, catches old rows when no earlier build is recorded.
-- requires: tenant_union_runs
-- model: all_users (the harness's own model; runs when verifying it)
with runs as (
    select
        tenant_union_runs.finished_at,
        tenant_union_runs.seconds,
        tenant_union_runs.incremental,
        lag(tenant_union_runs.finished_at) over (order by tenant_union_runs.finished_at) as previous_finished_at
    from tenant_union_runs
    where tenant_union_runs.model = 'all_users'
),

last_run as (
    select
        runs.finished_at,
        runs.seconds,
        runs.incremental,
        runs.previous_finished_at
    from runs
    order by runs.finished_at desc
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
        and (
            all_users.dbt_loaded_at <= last_run.previous_finished_at
            or all_users.dbt_loaded_at < last_run.finished_at - make_interval(secs => last_run.seconds + 600)
        )
    )
