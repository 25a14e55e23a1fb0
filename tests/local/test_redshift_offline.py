"""What can be checked of the Redshift path without a Redshift cluster (we have none; redshift_connector
cannot talk to PostgreSQL): the discovery SQL run for real on emulated SVV_ALL_* views, the Zero-ETL
model run on PostgreSQL, and every model compiled offline for a redshift target."""

from __future__ import annotations

import json
import re

import psycopg
import pytest

from tenant_harness.runner import DbtProject

pytestmark = pytest.mark.local

# SVV_ALL_* as Redshift documents them, emulated over information_schema for the columns the
# macros read. Created in public, which is on the search path like pg_catalog is on Redshift.
SVV_EMULATION = """
create view public.svv_all_schemas as
select current_database()::varchar as database_name, schema_name::varchar as schema_name
from information_schema.schemata;
create view public.svv_all_tables as
select current_database()::varchar as database_name, table_schema::varchar as schema_name,
       table_name::varchar as table_name, table_type::varchar as table_type
from information_schema.tables;
create view public.svv_all_columns as
select current_database()::varchar as database_name, table_schema::varchar as schema_name,
       table_name::varchar as table_name, column_name::varchar as column_name,
       ordinal_position::int as ordinal_position, data_type::varchar as data_type,
       character_maximum_length::int as character_maximum_length,
       numeric_precision::int as numeric_precision, numeric_scale::int as numeric_scale
from information_schema.columns;
"""


def compiled(project: DbtProject, jinja: str, **kw) -> str:
    return project.invoke("compile", "--inline", jinja, **kw).nodes[0].compiled_code.strip()


@pytest.mark.tenants(n=4, rows=2)
def test_redshift_discovery_sql_agrees_with_postgres_discovery(tenant_database, dbt_project):
    with psycopg.connect(tenant_database.conninfo) as conn:
        conn.execute(SVV_EMULATION)
        conn.execute("create schema tenantx1; create schema tenant_nousers")
        conn.execute("alter table tenant_b.users add column score numeric(10,2)")
    show = "{{ multitenant_analytics.%s__get_tenant_schemas('users', 'tenant_*', target.database) | tojson }}"
    redshift = json.loads(compiled(dbt_project, show % "redshift"))
    postgres = json.loads(compiled(dbt_project, show % "postgres"))
    assert [t["name"] for t in redshift] == ["tenant_a", "tenant_b", "tenant_c", "tenant_d", "tenant_nousers"]
    for r, p in zip(redshift, postgres, strict=True):
        assert (r["name"], r["has_table"]) == (p["name"], p["has_table"])
        assert json.loads(r["columns_json"]) == json.loads(p["columns_json"])


ZERO_ETL_STATE = """
create table public.svv_integration_table_state (
    target_database char(128), schema_name char(128), table_name char(128), table_state char(128)
);
"""


@pytest.mark.tenants(n=4, rows=2)
def test_redshift_discovery_reads_only_synced_zero_etl_tables(tenant_database, dbt_project):
    """mgmt/zero-etl.reqs-lims: only Synced tables can be queried; r_SVV_INTEGRATION_TABLE_STATE
    gives each table's state (char(128) columns, hence the padding here). Discovery of another
    database is emulated by naming the current one 'zeroetl_emulated' in the SVV_ALL_* views."""
    with psycopg.connect(tenant_database.conninfo) as conn:
        conn.execute(SVV_EMULATION.replace("current_database()::varchar", "'zeroetl_emulated'::varchar"))
        conn.execute(ZERO_ETL_STATE)
    show = "{{ multitenant_analytics.redshift__get_tenant_schemas('users', 'tenant_*', 'zeroetl_emulated') | tojson }}"
    # No state visible (the view is superuser-only by default): the run stops, naming the grant.
    failed = dbt_project.invoke("compile", "--inline", show, check=False)
    assert not failed.success and "sys:monitor" in failed.describe_failure()
    with psycopg.connect(tenant_database.conninfo) as conn:
        conn.execute(
            "insert into public.svv_integration_table_state values ('zeroetl_emulated', 'tenant_a', 'users', 'Synced'),"
            " ('zeroetl_emulated', 'tenant_b', 'users', 'ResyncRequired'),"
            " ('zeroetl_emulated', 'tenant_c', 'users', 'Synced')"
        )  # tenant_d has no state row
    result = dbt_project.invoke("compile", "--inline", show)
    assert [t["name"] for t in json.loads(result.nodes[0].compiled_code)] == ["tenant_a", "tenant_c"]
    warned = " ".join(result.warnings)
    assert "tenant_b.users (ResyncRequired)" in warned and "tenant_d.users (no state)" in warned


@pytest.mark.tenants(n=5, rows=4, seed=8)
def test_zero_etl_model_on_postgres_equals_all_users(tenant_database, dbt_project):
    vars = {"enable_zero_etl_model": True, "zeroetl_database": tenant_database.name}
    dbt_project.run(vars=vars)
    columns = "tenant_id, user_id, email, first_name, last_name, account_status, subscription_tier, updated_at"
    with psycopg.connect(tenant_database.conninfo) as conn:
        zero_etl = conn.execute(
            f"select {columns} from analytics_analytics.zero_etl_all_users order by 1, 2"
        ).fetchall()
        plain = conn.execute(f"select {columns} from analytics.all_users order by 1, 2").fetchall()
    assert zero_etl == plain and len(plain) == tenant_database.truth.kept_rows
    sql = dbt_project.compile("zero_etl_all_users", vars=vars).node("zero_etl_all_users").compiled_code
    assert f'from "{tenant_database.name}"."tenant_a"."users"' in sql  # three-part names
    dbt_project.test(vars=vars)


@pytest.fixture
def offline_redshift(tmp_path):
    """The project with a redshift target whose host does not exist: nothing may connect."""
    env = {"DBT_TARGET": "redshift", "DBT_REDSHIFT_HOST": "redshift.invalid", "DBT_REDSHIFT_USER": "nobody",
           "DBT_ENV_SECRET_REDSHIFT_PASSWORD": "", "DBT_REDSHIFT_DBNAME": "dev"}  # fmt: skip
    with DbtProject(env=env, work_dir=tmp_path / "dbt", quiet=True) as project:
        yield project


def offline_vars(n: int) -> dict:
    columns = [["user_id", "bigint"], ["email", "character varying(255)"], ["first_name", "character varying(100)"],
               ["last_name", "character varying(100)"], ["registration_date", "date"],
               ["last_login_date", "timestamp without time zone"], ["account_status", "character varying(20)"],
               ["subscription_tier", "character varying(20)"], ["created_at", "timestamp without time zone"],
               ["updated_at", "timestamp without time zone"]]  # fmt: skip
    names = [f"tenant_{i:05d}" for i in range(1, n + 1)]
    return {"offline_tenants": {"names": names, "columns": columns},
            "tenant_processing": {"max_tenant_limit": n, "batch_size": 100}}  # fmt: skip


def test_every_model_compiles_offline_for_redshift_and_parses_as_redshift_sql(offline_redshift):
    import sqlfluff

    result = offline_redshift.invoke("compile", "--no-populate-cache", vars=offline_vars(3))
    compiled_nodes = {n.name: n.compiled_code for n in result.nodes if n.compiled_code}
    assert {"all_users", "zero_etl_all_users", "tenant_a_users"} <= set(compiled_nodes)
    assert '"multitenant_analytics_zeroetl"."tenant_00001"."users"' in compiled_nodes["zero_etl_all_users"]
    for name, sql in compiled_nodes.items():
        parsed = sqlfluff.parse(sql, dialect="redshift")  # raises on SQL the redshift dialect rejects
        assert parsed, name


def test_redshift_statement_limit_respected_at_ten_thousand_tenants(offline_redshift):
    limit = 16 * 1024 * 1024  # Redshift's maximum statement length
    sql = offline_redshift.invoke("compile", "--no-populate-cache", "--select", "zero_etl_all_users",
                                  vars=offline_vars(10_000)).node("zero_etl_all_users").compiled_code  # fmt: skip
    batches = re.split(r"\nunion all\nselect \* from \(", sql)
    assert len(batches) == 100  # 10,000 tenants in batches of 100
    assert max(len(b.encode()) for b in batches) < limit / 100  # each batch statement is tiny
    assert len(sql.encode()) < limit  # even the whole union (what `dbt show` runs) fits


def test_redshift_verification_sql_is_redshift_sql():
    import sqlfluff

    from tenant_harness.verify import check_files

    files = check_files(engine="redshift")
    assert any(f.parent.name == "redshift" for f in files)  # an engine's own version replaces the shared one
    assert {f.name for f in files} == {f.name for f in check_files()}
    for f in files:
        assert sqlfluff.parse(f.read_text(), dialect="redshift"), f.name


def test_cli_redshift_target_without_settings_names_what_is_missing(monkeypatch):
    from click.testing import CliRunner

    from tenant_harness.cli import main

    for name in ("TENANT_HARNESS_REDSHIFT_HOST", "TENANT_HARNESS_REDSHIFT_USER", "DBT_ENV_SECRET_REDSHIFT_PASSWORD",
                 "TENANT_HARNESS_REDSHIFT_CONNECTION_FILE"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["run", "--target", "redshift"])
    assert result.exit_code == 1
    assert "TENANT_HARNESS_REDSHIFT_HOST" in result.output and "CONNECTION_FILE" in result.output
