"""The checks fail when all_users is wrong: a suite that cannot fail proves nothing."""

from __future__ import annotations

import psycopg
import pytest

from tenant_harness.verify import run_checks

pytestmark = [pytest.mark.local, pytest.mark.tenants(n=5, rows=4, seed=3)]


def _tamper(conninfo: str, sql: str) -> dict[str, str]:
    with psycopg.connect(conninfo) as conn:
        conn.execute(sql)
    return {c.name: c.status for c in run_checks(conninfo)}


@pytest.mark.parametrize(
    ("tampering", "caught_by"),
    [
        (
            "delete from analytics.all_users where ctid = (select min(ctid) from analytics.all_users)",
            "counts_match_truth",
        ),
        ("insert into analytics.all_users select * from analytics.all_users limit 1", "unique_key"),
        ("delete from analytics.all_users where tenant_id = 'tenant_c'", "tenants_all_present"),
        ("update analytics.all_users set email = upper(email) where user_id = 1", "values_are_clean"),
        ("update analytics.all_users set email = null where user_id = 2", "no_null_keys"),
        (
            "update analytics.all_users set dbt_loaded_at = dbt_loaded_at - interval '1 day' where user_id = 3",
            "loaded_in_last_run",
        ),
        (
            # A row of the build before, seconds older: caught by the order of the recorded builds,
            # not by a margin of time.
            "insert into analytics.tenant_union_runs select model, finished_at - interval '5 seconds', tenants, "
            "batches, batch_size, rows_written, seconds, incremental, batch_stats from analytics.tenant_union_runs; "
            "update analytics.all_users set dbt_loaded_at = (select min(finished_at) from analytics.tenant_union_runs) "
            "where user_id = 3",
            "loaded_in_last_run",
        ),
        (
            # Two tenants of the same size given each other's rows: every count, key and tenant agrees.
            "update analytics.all_users set tenant_id = case tenant_id when 'tenant_a' then 'tenant_b'"
            " when 'tenant_b' then 'tenant_a' else tenant_id end",
            "rows_match_sources",
        ),
        ("update analytics.all_users set first_name = last_name where user_id = 2", "rows_match_sources"),
    ],
    ids=[
        "lost-row",
        "duplicated-row",
        "lost-tenant",
        "unclean-email",
        "null-email",
        "stale-row",
        "row-of-last-build",
        "swapped-tenants",
        "wrong-value",
    ],  # fmt: skip
)
def test_each_check_catches_its_fault(tenant_database, dbt_project, tampering, caught_by):
    dbt_project.run()
    assert all(c.status == "pass" for c in run_checks(tenant_database.conninfo))
    statuses = _tamper(tenant_database.conninfo, tampering)
    assert statuses[caught_by] == "fail"
    if caught_by == "rows_match_sources":  # what no other check sees
        assert {name for name, status in statuses.items() if status == "fail"} == {caught_by}


def test_rows_match_sources_names_the_tenants_and_columns_that_differ(tenant_database, dbt_project):
    dbt_project.run()
    with psycopg.connect(tenant_database.conninfo) as conn:
        conn.execute(
            "update analytics.all_users set first_name = last_name where tenant_id = 'tenant_c' and user_id = 2"
        )
        conn.execute("delete from analytics.all_users where tenant_id = 'tenant_d' and user_id = 1")
    (check,) = [c for c in run_checks(tenant_database.conninfo) if c.name == "rows_match_sources"]
    assert check.status == "fail" and check.failing_rows == 2
    assert check.rows == (("tenant_c", 4, 4, "first_name"), ("tenant_d", 4, 3, "rows missing or extra"))
