-- Rows whose cleaned columns are not clean: email not lower/trimmed, names not trimmed,
-- status not upper/trimmed, tier not lower/trimmed. Blanks are found by length: comparing with
-- trim() alone misses trailing blanks where VARCHAR comparison ignores them, as on Redshift
-- (r_Examples_with_character_types); length() counts them on both engines (r_LEN).
-- model: all_users (the harness's own model; runs when verifying it)
select
    all_users.tenant_id,
    all_users.user_id,
    all_users.email,
    all_users.account_status,
    all_users.subscription_tier
from all_users
where
    all_users.email <> lower(all_users.email)
    or length(all_users.email) <> length(trim(all_users.email))
    or length(all_users.first_name) <> length(trim(all_users.first_name))
    or length(all_users.last_name) <> length(trim(all_users.last_name))
    or all_users.account_status <> upper(all_users.account_status)
    or length(all_users.account_status) <> length(trim(all_users.account_status))
    or all_users.subscription_tier <> lower(all_users.subscription_tier)
    or length(all_users.subscription_tier) <> length(trim(all_users.subscription_tier))
