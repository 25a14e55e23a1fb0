"""Property and differential tests against the database: random tenant sets, random batch sizes;
all_users always equals what Python computes independently from the generated rows."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from tenant_harness.database import create_database, drop_database
from tenant_harness.runner import DbtProject
from tenant_harness.tenants import clean_row, expected_all_users, generate_tenants, plan_tenants, tenant_rows

pytestmark = pytest.mark.local

COLUMNS = ("tenant_id", "user_id", "email", "first_name", "last_name", "registration_date", "last_login_date",
           "account_status", "subscription_tier", "created_at", "updated_at")  # fmt: skip
suffixes = st.text(alphabet="abcxyzAB019_ -'\"é%", min_size=1, max_size=8)
tenant_sets = st.lists(suffixes, min_size=1, max_size=12, unique=True).map(lambda s: ["tenant_" + x for x in s])


# One name for every example's database, so that dbt parses partially between examples.
PROPERTY_DB = f"th_prop_{uuid.uuid4().hex[:10]}"


def all_users(conninfo: str) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(f"select {', '.join(COLUMNS)} from analytics.all_users").fetchall()
    return sorted(rows, key=lambda r: (r[0], r[1]))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    names=tenant_sets,
    rows=st.integers(0, 6),
    jitter=st.sampled_from([0.0, 0.5, 1.0]),
    null_id_every=st.integers(0, 3),
    data=st.data(),
)
def test_all_users_equals_python_truth_for_random_tenant_sets(
    tenant_server, dbt_work_dir, names, rows, jitter, null_id_every, data
):
    endpoint, dbname = tenant_server.endpoint, PROPERTY_DB
    drop_database(endpoint, dbname)  # an earlier example's, should its drop have failed
    create_database(endpoint, dbname)
    try:
        conninfo = endpoint.conninfo(dbname)
        generate_tenants(conninfo, names, rows, 5, jitter=jitter, null_id_every=null_id_every, invalid_ratio=0.3)
        specs = plan_tenants(names, rows=rows, seed=5, jitter=jitter, null_id_every=null_id_every)
        without_table = data.draw(st.sets(st.sampled_from(names), max_size=len(names) - 1), label="no table")
        extra_column = data.draw(st.sets(st.sampled_from(names)), label="extra column")
        with psycopg.connect(conninfo) as conn:
            for name in without_table:
                conn.execute(sql.SQL("drop table {}").format(sql.Identifier(name, "users")))
            for name in extra_column - without_table:
                conn.execute(
                    sql.SQL("alter table {} add column note text default 'x'").format(sql.Identifier(name, "users"))
                )
        batch_size = data.draw(st.integers(1, len(names) + 1), label="batch size")
        with DbtProject(env=endpoint.dbt_env(dbname), work_dir=dbt_work_dir, quiet=True, artifacts=False) as project:
            project.run("all_users", vars={"tenant_processing": {"batch_size": batch_size}})
        kept = [s for s in specs if s.name not in without_table]
        expected = expected_all_users(5, kept, invalid_ratio=0.3)
        assert all_users(conninfo) == expected
    finally:
        drop_database(endpoint, dbname)


def raw_union(conninfo: str, tenants: list[str]) -> list[tuple]:
    """all_users computed by plain SQL written here, without any of the project's macros."""
    branches = [
        sql.SQL("select {} as tenant_id, * from {}").format(sql.Literal(t), sql.Identifier(t, "users")) for t in tenants
    ]
    query = sql.SQL(
        "select tenant_id, user_id, lower(trim(email)), trim(first_name), trim(last_name), registration_date, "
        "last_login_date, upper(trim(account_status)), lower(trim(subscription_tier)), created_at, updated_at "
        "from ({}) as u where user_id is not null and email is not null"
    ).format(sql.SQL(" union all ").join(branches))
    with psycopg.connect(conninfo) as conn:
        return sorted(conn.execute(query).fetchall(), key=lambda r: (r[0], r[1]))


@pytest.mark.tenants(n=100, rows=8, seed=21, jitter=0.5, null_id_every=7)
def test_batched_single_batch_and_raw_union_agree(tenant_database, dbt_project):
    names = tenant_database.truth.names
    tables = {}
    for batch_size in (7, 100):
        dbt_project.run("all_users", full_refresh=True, vars={"tenant_processing": {"batch_size": batch_size}})
        tables[batch_size] = all_users(tenant_database.conninfo)
    assert tables[7] == tables[100] == raw_union(tenant_database.conninfo, names)
    # and the Python truth, from the generator's own rows
    python = sorted(
        (r for name in names for r in (clean_row(name, d) for d in _rows_of(tenant_database, name)) if r),
        key=lambda r: (r[0], r[1]),
    )
    assert tables[7] == python


def _rows_of(db, name):
    spec = next(s for s in plan_tenants(db.spec.names, rows=db.spec.rows, seed=db.spec.seed, jitter=db.spec.jitter,
                                        null_id_every=db.spec.null_id_every) if s.name == name)  # fmt: skip
    return tenant_rows(name, rows=spec.rows, seed=db.spec.seed, null_ids=spec.null_ids)
