"""all_users built by a real dbt run equals the truth the generator computed in Python."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest

from tenant_harness.database import drop_database
from tenant_harness.plugin import TenantDatabase, TenantSet
from tenant_harness.runner import DbtProject, DbtResult
from tenant_harness.tenants import expected_all_users, plan_tenants
from tenant_harness.verify import run_checks

pytestmark = pytest.mark.local

SETS = [
    TenantSet(),  # the seed's demo: tenant_a..c with 2 users each
    TenantSet(n=100, rows=20, seed=7, jitter=0.5, null_id_every=10),
]
COLUMNS = ("tenant_id, user_id, email, first_name, last_name, registration_date, last_login_date, "
           "account_status, subscription_tier, created_at, updated_at")  # fmt: skip


@dataclass
class Built:
    db: TenantDatabase
    run: DbtResult
    test: DbtResult

    def query(self, sql: str, *params) -> list[tuple]:
        with psycopg.connect(self.db.conninfo) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module", params=SETS, ids=lambda s: f"{s.n}-tenants")
def built(request, tenant_templates, dbt_work_dir):
    """One clone per tenant set, built by dbt run and tested by dbt test once for the module."""
    db = tenant_templates.clone(request.param)
    try:
        with DbtProject(env=db.dbt_env(), work_dir=dbt_work_dir, quiet=True) as project:
            run = project.run()
            test = project.test(check=False)
        yield Built(db, run, test)
    finally:
        drop_database(db.endpoint, db.name)


def test_run_builds_both_models(built):
    assert built.run.success
    assert {n.name for n in built.run.nodes} == {"all_users", "tenant_a_users"}


def test_row_counts_per_tenant_equal_truth(built):
    counts = dict(built.query("select tenant_id, count(*) from analytics.all_users group by 1"))
    expected = {name: kept for name, kept in built.db.truth.kept_by_tenant.items() if kept}
    assert counts == expected


def test_rows_equal_python_truth_row_by_row(built):
    spec = built.db.spec
    specs = plan_tenants(spec.names, rows=spec.rows, seed=spec.seed, jitter=spec.jitter,
                         null_id_every=spec.null_id_every)  # fmt: skip
    actual = built.query(f"select {COLUMNS} from analytics.all_users order by tenant_id, user_id")
    assert actual == expected_all_users(spec.seed, specs)


def test_invalid_rows_were_really_dropped(built):
    truth = built.db.truth
    total = built.query("select count(*) from analytics.all_users")[0][0]
    assert total == truth.kept_rows
    if built.db.spec.n > 3:  # the demo set has no invalid rows; the larger one must have some
        assert truth.source_rows > truth.kept_rows


def test_no_duplicate_and_every_tenant_exactly_once(built):
    dupes = built.query(
        "select tenant_id, user_id from analytics.all_users group by 1, 2 having count(*) > 1"
    )
    assert dupes == []
    tenants = [r[0] for r in built.query("select distinct tenant_id from analytics.all_users order by 1")]
    assert tenants == sorted(t.name for t in built.db.truth.tenants if t.kept_rows)


def test_cleaned_values_are_clean(built):
    dirty = built.query(
        "select email, account_status, subscription_tier from analytics.all_users "
        "where email <> lower(trim(email)) or account_status <> upper(trim(account_status)) "
        "or subscription_tier <> lower(trim(subscription_tier)) or first_name <> trim(first_name)"
    )
    assert dirty == []
    statuses = {r[0] for r in built.query("select distinct account_status from analytics.all_users")}
    assert statuses <= {"ACTIVE", "INACTIVE", "SUSPENDED"}
    if built.db.spec.n > 3:
        assert sum(t.messy_rows for t in built.db.truth.tenants) > 0  # there was something to clean


def test_dbt_tests_pass(built):
    assert built.test.success, built.test.describe_failure()
    assert len(built.test.nodes) == 6
    assert all(n.status == "pass" for n in built.test.nodes)


def test_verification_sql_passes(built):
    checks = run_checks(built.db.conninfo)
    assert [c.name for c in checks if c.status != "pass"] == []
