"""all_users never collapses rows: a duplicated source row stays duplicated, so the dbt test on
(tenant_id, user_id) reports it instead of the model hiding it (a `distinct` would)."""

from __future__ import annotations

import psycopg
import pytest

from tenant_harness.errors import DbtRunError

pytestmark = pytest.mark.local


@pytest.mark.tenants(n=3, rows=2)
def test_duplicate_source_rows_are_kept_and_reported(tenant_database, dbt_project):
    with psycopg.connect(tenant_database.conninfo) as conn:
        # `like` copies the columns, not the primary key: the same rows can go in twice.
        conn.execute("create schema tenant_dup; create table tenant_dup.users (like tenant_a.users)")
        conn.execute("insert into tenant_dup.users select * from tenant_a.users")
        conn.execute("insert into tenant_dup.users select * from tenant_a.users")
    dbt_project.run("all_users")
    with psycopg.connect(tenant_database.conninfo) as conn:
        count = conn.execute("select count(*) from analytics.all_users where tenant_id = 'tenant_dup'").fetchone()[0]
    assert count == 2 * tenant_database.truth.kept_by_tenant["tenant_a"]
    with pytest.raises(DbtRunError, match="unique_combination_of_columns"):
        dbt_project.test("all_users")
