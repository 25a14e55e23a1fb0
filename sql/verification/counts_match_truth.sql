-- Tenants whose row count in all_users differs from what the generator says the model must keep.
-- Needs the generator's truth (harness_truth.tenant_rows); skipped in databases without it.
-- requires: harness_truth.tenant_rows
select
    coalesce(truth.tenant_id, output.tenant_id) as tenant_id,
    truth.expected_rows,
    coalesce(output.actual_rows, 0) as actual_rows
from (
    select
        tenant_rows.tenant_id,
        tenant_rows.expected_rows
    from harness_truth.tenant_rows
    where tenant_rows.table_name = 'users'
) as truth
full outer join (
    select
        all_users.tenant_id,
        count(*) as actual_rows
    from all_users
    group by all_users.tenant_id
) as output
    on truth.tenant_id = output.tenant_id
where coalesce(truth.expected_rows, -1) <> coalesce(output.actual_rows, 0)
