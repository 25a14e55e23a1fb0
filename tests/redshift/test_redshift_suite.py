"""The local suites' assertions against a real Amazon Redshift cluster: `pytest -m redshift`.

Settings: TENANT_HARNESS_REDSHIFT_HOST, _USER, DBT_ENV_SECRET_REDSHIFT_PASSWORD (or
TENANT_HARNESS_REDSHIFT_CONNECTION_FILE, mode 0600), optional _PORT, _DBNAME (a scratch database).
Without them every test here is skipped, naming what is missing.

The harness creates its own uniquely named tenant schemas (th<run>_tenant_*) in the scratch
database, builds all_users and zero_etl_all_users (reading the same database with three-part
names), asserts, and drops everything it made, also when a test fails. With
TENANT_HARNESS_REDSHIFT_ZEROETL_DATABASE set it instead reads that existing Zero-ETL database
read-only (no generated truth: the checks that need it are skipped).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from tenant_harness.redshift import RedshiftSettings, load_settings
from tenant_harness.runner import DbtProject, DbtResult
from tenant_harness.tenants import TRUTH_SCHEMA, DatasetTruth, generate_tenants, plan_tenants
from tests.suites import all_users_checks as checks

pytestmark = pytest.mark.redshift

ROWS, SEED, JITTER, NULL_ID_EVERY = 6, 13, 0.5, 4


@dataclass
class RedshiftBuild:
    settings: RedshiftSettings
    schema: str
    names: list[str]
    truth: DatasetTruth | None
    run: DbtResult
    test: DbtResult

    def query(self, statement: str) -> list[tuple]:
        with psycopg.connect(self.settings.conninfo()) as conn:
            return conn.execute(statement).fetchall()


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> RedshiftBuild:
    settings = load_settings()
    run_id = uuid.uuid4().hex[:8]
    schema = f"th{run_id}_analytics"
    existing = settings.zeroetl_database
    names = [] if existing else [f"th{run_id}_tenant_{i:02d}" for i in range(1, 13)]
    vars = {
        "enable_zero_etl_model": True,
        "zeroetl_database": existing or settings.dbname,
        "tenant_processing": {"batch_size": 5},
    }
    if not existing:
        vars["tenant_schema_pattern"] = f"th{run_id}_tenant_*"
    truth = None
    try:
        if not existing:
            truth = generate_tenants(settings.conninfo(), names, ROWS, SEED, jitter=JITTER,
                                     null_id_every=NULL_ID_EVERY, bulk="insert", workers=1)  # fmt: skip
        with DbtProject(env=settings.dbt_env(schema), vars=vars, work_dir=tmp_path_factory.mktemp("dbt"),
                        quiet=True) as project:  # fmt: skip
            # An existing Zero-ETL database feeds zero_etl_all_users only.
            select = ("zero_etl_all_users",) if existing else ()
            run = project.run(*select)
            test = project.test(*select, check=False)
        yield RedshiftBuild(settings, schema, names, truth, run, test)
    finally:
        _drop_everything(settings, [*names, schema, f"{schema}_analytics"], names)


def _drop_everything(settings: RedshiftSettings, schemas: list[str], tenants: list[str]) -> None:
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
        if tenants:
            conn.execute(
                sql.SQL("delete from {} where tenant_id in ({})").format(
                    sql.Identifier(TRUTH_SCHEMA, "tenant_rows"), sql.SQL(", ").join(map(sql.Literal, tenants))
                )
            )


@pytest.fixture(params=["all_users", "zero_etl_all_users"])
def table(request, build) -> str:
    if build.truth is None and request.param == "all_users":
        pytest.skip("reading an existing Zero-ETL database: only zero_etl_all_users is built")
    schema = build.schema if request.param == "all_users" else f"{build.schema}_analytics"
    return f'"{schema}".{request.param}'


def _needs_truth(build):
    if build.truth is None:
        pytest.skip("reading an existing Zero-ETL database: no generated truth to compare with")


def test_run_and_dbt_tests_pass(build):
    assert "zero_etl_all_users" in {n.name for n in build.run.nodes}
    assert build.test.success, build.test.describe_failure()


def test_row_counts_per_tenant_equal_truth(build, table):
    _needs_truth(build)
    checks.counts_equal_truth(build.query, table, build.truth)


def test_rows_equal_python_truth_row_by_row(build, table):
    _needs_truth(build)
    specs = plan_tenants(build.names, rows=ROWS, seed=SEED, jitter=JITTER, null_id_every=NULL_ID_EVERY)
    checks.rows_equal_python_truth(build.query, table, SEED, specs)


def test_no_duplicate_and_every_tenant_exactly_once(build, table):
    _needs_truth(build)
    checks.no_duplicates_and_every_tenant_once(build.query, table, build.truth)


def test_cleaned_values_are_clean(build, table):
    checks.values_are_clean(build.query, table)


def test_both_paths_agree(build):
    _needs_truth(build)
    columns = "tenant_id, user_id, email, account_status, subscription_tier, updated_at"
    plain = build.query(f'select {columns} from "{build.schema}".all_users order by 1, 2')
    zero_etl = build.query(f'select {columns} from "{build.schema}_analytics".zero_etl_all_users order by 1, 2')
    assert plain == zero_etl
