-- Tenant schemas (default pattern tenant_*, `_` literal) that have a users table with at least one
-- valid row but no row in all_users: a tenant dropped by discovery, a filter or a lost batch.
-- Needs the generator's truth to know which tenants hold valid rows.
-- requires: harness_truth.tenant_rows
select truth.tenant_id
from harness_truth.tenant_rows as truth
inner join pg_catalog.pg_namespace as ns
    on truth.tenant_id = ns.nspname
where
    truth.table_name = 'users'
    and truth.expected_rows > 0
    and ns.nspname ilike 'tenant!_%' escape '!'
    and not exists (
        select 1
        from all_users
        where all_users.tenant_id = truth.tenant_id
    )
