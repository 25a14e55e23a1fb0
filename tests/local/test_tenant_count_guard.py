"""The tenant-count guard (tenant_processing.max_tenant_drop): a build with a larger share of tenants
gone than allowed since the last recorded build stops, naming them, and leaves the table as it was.
Redshift's discovery cannot tell a tenant it may not read from one that is gone (r_SVV_ALL_COLUMNS);
here tenants vanish by dropping their schemas, which discovery sees the same way."""

from __future__ import annotations

import psycopg
import pytest

from tenant_harness.errors import DbtRunError

pytestmark = pytest.mark.local


def run_sql(conninfo: str, *statements: str) -> list[tuple]:
    """Run the statements in order; the rows of the last."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for statement in statements:
            cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


@pytest.mark.tenants(n=5, rows=2)
def test_a_large_tenant_drop_stops_the_run_naming_the_vanished(tenant_database, dbt_project):
    conninfo = tenant_database.conninfo
    dbt_project.run("all_users")
    before = run_sql(conninfo, "select tenant_id, user_id from analytics.all_users order by 1, 2")
    run_sql(conninfo, "drop schema tenant_b cascade", "drop schema tenant_d cascade")
    for full_refresh in (False, True):  # incremental or not, the guard stands
        with pytest.raises(DbtRunError) as failed:
            dbt_project.run("all_users", full_refresh=full_refresh)
        message = str(failed.value)
        assert "all_users would be built from 3 tenants, 2 fewer than the 5 of its last recorded build" in message
        assert "Vanished tenants: tenant_b, tenant_d." in message and "max_tenant_drop" in message
        assert run_sql(conninfo, "select tenant_id, user_id from analytics.all_users order by 1, 2") == before
    # Removed on purpose: allowed once, and the new count is the baseline.
    dbt_project.run("all_users", vars={"tenant_processing": {"max_tenant_drop": 1}})
    tenants = run_sql(conninfo, "select distinct tenant_id from analytics.all_users order by 1")
    assert [t for (t,) in tenants] == ["tenant_a", "tenant_c", "tenant_e"]
    dbt_project.run("all_users")


@pytest.mark.tenants(n=5, rows=2)
def test_a_drop_within_the_share_builds(tenant_database, dbt_project):
    conninfo = tenant_database.conninfo
    dbt_project.run("all_users")
    run_sql(conninfo, "drop schema tenant_e cascade")  # 1 of 5: 0.2, not more than the default 0.2
    dbt_project.run("all_users")
    with pytest.raises(DbtRunError, match=r"max_tenant_drop must be a share from 0 to 1, got 1\.5"):
        dbt_project.run("all_users", vars={"tenant_processing": {"max_tenant_drop": 1.5}})
    run_sql(conninfo, "drop schema tenant_d cascade")  # 1 of 4: 0.25
    with pytest.raises(DbtRunError, match="Vanished tenants: tenant_d"):
        dbt_project.run("all_users")
    dbt_project.run("all_users", vars={"tenant_processing": {"max_tenant_drop": 0.25}})
