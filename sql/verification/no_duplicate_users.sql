-- (tenant_id, user_id) pairs that occur more than once: a batch counted twice, a tenant unioned twice.
select
    all_users.tenant_id,
    all_users.user_id,
    count(*) as occurrences
from all_users
group by all_users.tenant_id, all_users.user_id
having count(*) > 1
