-- Rows the model must have dropped or filled: a null tenant_id, user_id or email.
-- model: all_users (the harness's own model; runs when verifying it)
select
    all_users.tenant_id,
    all_users.user_id,
    all_users.email
from all_users
where all_users.tenant_id is null or all_users.user_id is null or all_users.email is null
