"""The assertions about a built all_users, shared by the local (PostgreSQL) and Redshift suites so
both engines are held to the same truth: model_checks' assertions for any model, applied to all_users,
and its own cleaning rules. ``query`` runs SQL on the engine and returns tuples."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tenant_harness.tenants import DatasetTruth, TenantSpec, expected_all_users

from . import model_checks

Query = Callable[[str], list[tuple]]
COLUMNS = ("tenant_id, user_id, email, first_name, last_name, registration_date, last_login_date, "
           "account_status, subscription_tier, created_at, updated_at")  # fmt: skip


def counts_equal_truth(query: Query, table: str, truth: DatasetTruth) -> None:
    model_checks.counts_equal_truth(query, table, truth.table("users"))


def rows_equal_python_truth(query: Query, table: str, seed: int, specs: Sequence[TenantSpec]) -> None:
    actual = sorted(query(f"select {COLUMNS} from {table}"), key=lambda r: (r[0], r[1]))
    assert actual == expected_all_users(seed, specs)


def no_duplicates_and_every_tenant_once(query: Query, table: str, truth: DatasetTruth) -> None:
    model_checks.unique_key(query, table, ["user_id"])
    model_checks.every_selected_tenant_once(query, table, truth.table("users"))


def values_are_clean(query: Query, table: str) -> None:
    dirty = query(
        f"select email, account_status, subscription_tier from {table} "
        "where email <> lower(trim(email)) or account_status <> upper(trim(account_status)) "
        "or subscription_tier <> lower(trim(subscription_tier)) or first_name <> trim(first_name)"
    )
    assert dirty == []
    statuses = {r[0] for r in query(f"select distinct account_status from {table}")}
    assert statuses <= {"ACTIVE", "INACTIVE", "SUSPENDED"}
