"""all_users built by a real dbt run equals the truth the generator computed in Python."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest

from tenant_harness.plugin import TenantDatabase, TenantSet
from tenant_harness.runner import DbtProject, DbtResult
from tenant_harness.tenants import plan_tenants
from tenant_harness.verify import run_checks
from tests.suites import all_users_checks as checks

pytestmark = pytest.mark.local

SETS = [
    TenantSet(),  # the seed's demo: tenant_a..c with 2 users each
    TenantSet(n=100, rows=20, seed=7, jitter=0.5, null_id_every=10),
]
TABLE = "analytics.all_users"


@dataclass
class Built:
    db: TenantDatabase
    run: DbtResult
    test: DbtResult
    defined_tests: list[str]  # `dbt ls --resource-type test`: what `dbt test` must have run

    def query(self, sql: str) -> list[tuple]:
        with psycopg.connect(self.db.conninfo) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture(scope="module", params=SETS, ids=lambda s: f"{s.n}-tenants")
def built(request, tenant_templates, dbt_work_dir):
    """One clone per tenant set, built by dbt run and tested by dbt test once for the module."""
    db = tenant_templates.clone(request.param)
    try:
        with DbtProject(env=db.dbt_env(), work_dir=dbt_work_dir, quiet=True, artifacts=False) as project:
            run = project.run()
            test = project.test(check=False)
            defined = list(project.invoke("ls", "--resource-type", "test", "--output", "name").raw.result)
        yield Built(db, run, test, defined)
    finally:
        tenant_templates.drop(db)


def test_run_builds_both_models(built):  # a failed run raises in the fixture
    assert {n.name for n in built.run.nodes} == {"all_users", "tenant_a_users"}


def test_row_counts_per_tenant_equal_truth(built):
    checks.counts_equal_truth(built.query, TABLE, built.db.truth)


def test_rows_equal_python_truth_row_by_row(built):
    spec = built.db.spec
    specs = plan_tenants(spec.names, rows=spec.rows, seed=spec.seed, jitter=spec.jitter,
                         null_id_every=spec.null_id_every)  # fmt: skip
    checks.rows_equal_python_truth(built.query, TABLE, spec.seed, specs)


def test_invalid_rows_were_really_dropped(built):
    truth = built.db.truth
    assert built.query(f"select count(*) from {TABLE}")[0][0] == truth.kept_rows
    if built.db.spec.n > 3:  # the demo set has no invalid rows; the larger one must have some
        assert truth.source_rows > truth.kept_rows


def test_no_duplicate_and_every_tenant_exactly_once(built):
    checks.no_duplicates_and_every_tenant_once(built.query, TABLE, built.db.truth)


def test_cleaned_values_are_clean(built):
    checks.values_are_clean(built.query, TABLE)
    if built.db.spec.n > 3:
        assert sum(t.messy_rows for t in built.db.truth.tenants) > 0  # there was something to clean


def test_tenant_a_users_is_the_sample_tenants_rows_of_all_users(built):
    # The view: every all_users row of var sample_tenant (tenant_a), and nothing else.
    view = built.query("select * from analytics.tenant_a_users order by user_id")
    assert view == built.query("select * from analytics.all_users where tenant_id = 'tenant_a' order by user_id")
    assert len(view) == built.db.truth.kept_by_tenant.get("tenant_a", 0)


def test_dbt_tests_pass(built):
    assert built.test.success, built.test.describe_failure()
    assert len(built.defined_tests) >= 5  # not nothing: not_null x3, accepted_values, unique, presence
    assert sorted(n.name for n in built.test.nodes) == sorted(built.defined_tests)
    assert all(n.status == "pass" for n in built.test.nodes)


def test_verification_sql_passes(built):
    checks = run_checks(built.db.conninfo)
    assert [c.name for c in checks if c.status != "pass"] == []
