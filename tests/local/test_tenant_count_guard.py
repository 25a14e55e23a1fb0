"""The tenant-count guard (tenant_processing.max_tenant_drop): a build with a larger share of tenants
gone than allowed since the last recorded build stops, naming them, and leaves the table as it was;
tenants are compared by name, so others in their place do not hide them.
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
        assert "all_users would be built without 2 of the 5 tenants of its last recorded build (now 3" in message
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


@pytest.mark.tenants(n=5, rows=2)
def test_tenants_replaced_by_as_many_others_still_stop_the_run(tenant_database, dbt_project):
    """Two tenants gone and two others found in their place (a discovery that lost the right schemas
    and picked up wrong ones): the count is the same, the guard still stops, naming the two."""
    conninfo = tenant_database.conninfo
    dbt_project.run("all_users")
    before = run_sql(conninfo, "select tenant_id, user_id from analytics.all_users order by 1, 2")
    run_sql(
        conninfo,
        "alter schema tenant_b rename to tenant_x",
        "alter schema tenant_d rename to tenant_y",
    )
    with pytest.raises(DbtRunError) as failed:
        dbt_project.run("all_users")
    assert "without 2 of the 5 tenants of its last recorded build (now 5 tenants)" in str(failed.value)
    assert "Vanished tenants: tenant_b, tenant_d." in str(failed.value)
    assert run_sql(conninfo, "select tenant_id, user_id from analytics.all_users order by 1, 2") == before
    # New tenants alone never count against the guard.
    run_sql(conninfo, "alter schema tenant_x rename to tenant_b", "alter schema tenant_y rename to tenant_d",
            "create schema tenant_z", "create table tenant_z.users as select * from tenant_a.users")  # fmt: skip
    dbt_project.run("all_users")
    tenants = run_sql(conninfo, "select count(distinct tenant_id) from analytics.all_users")
    assert tenants == [(6,)]


@pytest.mark.tenants(n=5, rows=2)
def test_a_build_recorded_before_tenant_names_were_is_compared_by_count(tenant_database, dbt_project):
    conninfo = tenant_database.conninfo
    dbt_project.run("all_users")
    run_sql(conninfo, "drop table analytics.tenant_union_tenants", "drop schema tenant_b cascade",
            "drop schema tenant_d cascade")  # fmt: skip
    with pytest.raises(DbtRunError) as failed:
        dbt_project.run("all_users")
    assert "without 2 of the 5 tenants of its last recorded build (now 3 tenants)" in str(failed.value)
    assert "Vanished tenants: tenant_b, tenant_d." in str(failed.value)
