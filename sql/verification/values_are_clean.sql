-- Rows whose cleaned columns are not clean: email not lower/trimmed, names not trimmed,
-- status not upper/trimmed, tier not lower/trimmed.
-- model: all_users (the harness's own model; runs when verifying it)
select
    all_users.tenant_id,
    all_users.user_id,
    all_users.email,
    all_users.account_status,
    all_users.subscription_tier
from all_users
where
    all_users.email <> lower(trim(all_users.email))
    or all_users.first_name <> trim(all_users.first_name)
    or all_users.last_name <> trim(all_users.last_name)
    or all_users.account_status <> upper(trim(all_users.account_status))
    or all_users.subscription_tier <> lower(trim(all_users.subscription_tier))
