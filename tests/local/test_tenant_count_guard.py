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


@pytest.mark.tenants(n=24, rows=1)
@pytest.mark.parametrize("recorded", ["names", "count"])
def test_the_vanished_are_named_up_to_twenty(tenant_database, dbt_project, recorded):
    conninfo = tenant_database.conninfo
    names = sorted(tenant_database.truth.names)
    dbt_project.run("all_users", vars={"tenant_processing": {"max_tenant_drop": 0.5}})
    if recorded == "count":  # as recorded before names were: the vanished are read from the table
        run_sql(conninfo, "drop table analytics.tenant_union_tenants")
    gone = names[1:22]
    run_sql(conninfo, *(f"drop schema {name} cascade" for name in gone[:20]))
    with pytest.raises(DbtRunError) as failed:
        dbt_project.run("all_users", vars={"tenant_processing": {"max_tenant_drop": 0.5}})
    assert f"Vanished tenants: {', '.join(gone[:20])}. Hint" in str(failed.value)
    run_sql(conninfo, f"drop schema {gone[20]} cascade")
    with pytest.raises(DbtRunError) as failed:
        dbt_project.run("all_users", vars={"tenant_processing": {"max_tenant_drop": 0.5}})
    assert f"Vanished tenants: {', '.join(gone[:20])}, .... Hint" in str(failed.value)


@pytest.mark.tenants(n=3, rows=2)
def test_a_drop_of_exactly_the_share_builds_when_the_share_is_not_exact_in_binary(tenant_database, dbt_project):
    dbt_project.run("all_users")
    vanished = sorted(tenant_database.truth.names)[0]
    run_sql(tenant_database.conninfo, f"drop schema {vanished} cascade")
    share = 1 / len(tenant_database.truth.names)  # one of three: 0.333..., a float that is not 1/3
    dbt_project.run("all_users", vars={"tenant_processing": {"max_tenant_drop": share}})
    tenants = run_sql(tenant_database.conninfo, "select distinct tenant_id from analytics.all_users order by 1")
    assert [t for (t,) in tenants] == sorted(tenant_database.truth.names)[1:]


@pytest.fixture
def second_model(tenant_database, tmp_path):
    """A copy of the dbt project with a second tenant_union model, user_emails, in all_users' schema."""
    import shutil

    from tenant_harness.runner import DbtProject, default_project_dir

    copy = tmp_path / "project"
    shutil.copytree(default_project_dir(), copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (copy / "models" / "user_emails.sql").write_text(
        "{{ config(materialized='tenant_union') }}\n"
        "with u as ({{ multitenant_analytics.union_tenant_tables('users', columns=['user_id', 'email']) }})\n"
        "select u.tenant_id, u.user_id, u.email from u"
    )
    with DbtProject(env=tenant_database.dbt_env(), project_dir=copy, work_dir=tmp_path / "dbt", quiet=True) as p:
        yield p


@pytest.mark.tenants(n=5, rows=2)
def test_another_models_build_is_not_the_baseline(tenant_database, second_model):
    names = sorted(tenant_database.truth.names)
    two = {"tenant_processing": {"include_tenants": names[:2], "max_tenant_drop": 1}}
    second_model.run("all_users", vars=two)
    second_model.run("user_emails")  # later, from all five tenants: a record of another model
    one = {"tenant_processing": {"include_tenants": names[1:2]}}
    with pytest.raises(DbtRunError) as failed:  # 1 of all_users' 2 gone; user_emails' tenants are not named
        second_model.run("all_users", vars=one)
    assert f"Vanished tenants: {names[0]}. Hint" in str(failed.value)
    two["tenant_processing"].pop("max_tenant_drop")
    second_model.run("all_users", vars=two)  # 2 tenants, as all_users' own last build: no drop
    tenants = run_sql(tenant_database.conninfo, "select distinct tenant_id from analytics.all_users order by 1")
    assert [t for (t,) in tenants] == names[:2]
    # Compared by count (a build recorded before tenant names were): all_users' own last count, not
    # that of the last build of any model.
    second_model.run("user_emails")
    run_sql(tenant_database.conninfo, "drop table analytics.tenant_union_tenants")
    second_model.run("all_users", vars=two)
    tenants = run_sql(tenant_database.conninfo, "select distinct tenant_id from analytics.all_users order by 1")
    assert [t for (t,) in tenants] == names[:2]


@pytest.mark.tenants(n=5, rows=2)
def test_a_build_recorded_by_count_only_builds_when_no_more_than_the_share_is_gone(tenant_database, dbt_project):
    conninfo = tenant_database.conninfo
    names = sorted(tenant_database.truth.names)
    dbt_project.run("all_users")
    run_sql(conninfo, "drop table analytics.tenant_union_tenants")  # as recorded before names were
    dbt_project.run("all_users")
    tenants = run_sql(conninfo, "select distinct tenant_id from analytics.all_users order by 1")
    assert [t for (t,) in tenants] == names
    # One of five gone: exactly the share 1/5 (the same float as 0.2), not more than it.
    share = 1 / len(names)
    run_sql(conninfo, "drop table analytics.tenant_union_tenants", f"drop schema {names[-1]} cascade")
    dbt_project.run("all_users", vars={"tenant_processing": {"max_tenant_drop": share}})
    tenants = run_sql(conninfo, "select distinct tenant_id from analytics.all_users order by 1")
    assert [t for (t,) in tenants] == names[:-1]


@pytest.mark.tenants(n=1, rows=2)
def test_the_only_tenant_replaced_by_another_stops_the_run(tenant_database, dbt_project):
    # A last build of one tenant: that tenant gone is all of them, whatever took its place.
    (name,) = tenant_database.truth.names
    dbt_project.run("all_users")
    run_sql(tenant_database.conninfo, f"alter schema {name} rename to {name}_other")
    with pytest.raises(DbtRunError) as failed:
        dbt_project.run("all_users")
    assert "without 1 of the 1 tenants of its last recorded build (now 1 tenants)" in str(failed.value)
    assert f"Vanished tenants: {name}. Hint" in str(failed.value)


@pytest.mark.tenants(n=5, rows=2)
def test_another_models_build_keeps_this_models_tenant_names(tenant_database, second_model):
    """A build records its model's tenant names only: after another model's build, all_users' two
    tenants replaced by two others are still named and stop the run (a count would see no drop)."""
    names = sorted(tenant_database.truth.names)
    second_model.run("all_users", vars={"tenant_processing": {"include_tenants": names[:2]}})
    second_model.run("user_emails")
    with pytest.raises(DbtRunError) as failed:
        second_model.run("all_users", vars={"tenant_processing": {"include_tenants": names[2:4]}})
    assert f"Vanished tenants: {names[0]}, {names[1]}." in str(failed.value)
