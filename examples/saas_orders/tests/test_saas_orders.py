"""This project's own suite, on the tenant-harness pytest plugin: generated customers (orders tables
with drifting columns), noise schemas, a registry table, a real dbt run of all_orders, and checks
against the generator's truth. Run it from this folder: `python -m pytest`."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from tenant_harness.config import HarnessConfig
from tenant_harness.database import create_database, drop_database
from tenant_harness.dataset import expected_rows, plan_tenants
from tenant_harness.runner import DbtProject
from tenant_harness.selection import project_vars
from tenant_harness.tenants import generate_tenants
from tenant_harness.verify import ModelSpec, run_checks

HERE = Path(__file__).resolve().parents[1]
CUSTOMERS = ["acme", "globex", "initech", "Umbrella Corp", "cust_0042"]
NOISE = ["staging"]  # has an orders table, is not a customer (nor is public, which gets one too)
SEED = 11
ROWS = 25
ORDERS = HarnessConfig.build(config_file=HERE / "tenant-harness.toml", env={}).tables[0]
MODEL = ModelSpec("all_orders", "orders", ("order_id",), "tenant_id")
COLUMNS = ("order_id", "customer_email", "status", "amount", "ordered_at", "updated_at")


@pytest.fixture(scope="module")
def database(tenant_server):
    """A database with the customers, the noise schemas and the registry; the generator's truth."""
    endpoint, name = tenant_server.endpoint, f"saas_{uuid.uuid4().hex[:10]}"
    create_database(endpoint, name)
    try:
        conninfo = endpoint.conninfo(name)
        truth = generate_tenants(conninfo, CUSTOMERS + NOISE, ROWS, SEED, tables=[ORDERS])
        with psycopg.connect(conninfo) as conn:
            conn.execute("create table public.orders (like acme.orders)")
            conn.execute("insert into public.orders select * from acme.orders")
            conn.execute("create table public.customers (schema_name text primary key, active boolean not null)")
            conn.cursor().executemany(
                "insert into public.customers values (%s, %s)",
                [(c, True) for c in CUSTOMERS] + [("hooli", True), ("oldco", False)],  # hooli: no schema
            )
        yield endpoint, name, truth
    finally:
        drop_database(endpoint, name)


@pytest.fixture(scope="module")
def dbt(database, tmp_path_factory):
    """This dbt project bound to the database. The harness writes its profile and installs the
    package (dbt deps) on first use: the project needs no profiles.yml of its own."""
    endpoint, name, _ = database
    with DbtProject(env=endpoint.dbt_env(name), project_dir=HERE, work_dir=tmp_path_factory.mktemp("dbt"),
                    quiet=True) as project:  # fmt: skip
        yield project


def query(database, sql: str) -> list[tuple]:
    endpoint, name, _ = database
    with psycopg.connect(endpoint.conninfo(name)) as conn:
        return conn.execute(sql).fetchall()


def expected(tenants: list[str]) -> list[tuple]:
    """all_orders as the generator's truth says it must be, for ``tenants``."""
    plan = [t for t in plan_tenants(CUSTOMERS + NOISE, rows=ROWS, seed=SEED) if t.name in tenants]
    at = [ORDERS.all_column_names.index(c) + 1 for c in COLUMNS]
    return [(r[0], *(r[i] for i in at)) for r in expected_rows(ORDERS, plan, SEED)]


def built(database) -> list[tuple]:
    rows = query(database, f"select tenant_id, {', '.join(COLUMNS)} from analytics.all_orders")
    return sorted(rows, key=lambda r: (r[0], r[1]))


def test_registry_selects_the_active_customers_row_by_row(database, dbt):
    run = dbt.run()
    assert [n.name for n in run.nodes] == ["all_orders"]
    assert any("hooli" in w for w in run.warnings)  # listed, but has no schema
    assert built(database) == expected(CUSTOMERS)  # not staging, not public, drift handled
    dbt.test()  # raises, naming the test, when one fails


def test_verify_with_the_projects_own_checks(database, dbt):
    endpoint, name, _ = database
    dbt.run()
    checks = run_checks(endpoint.conninfo(name), models=[MODEL], sql_dir=None, checks_dir=HERE / "checks",
                        dbt_vars=project_vars(HERE))  # fmt: skip
    assert {c.name: c.status for c in checks} == {
        "counts_match_truth": "pass", "tenants_all_present": "pass", "rows_match_sources": "pass",
        "no_unselected_tenants": "pass",
        "unique_key": "pass", "keys_not_null": "pass", "no_negative_amounts": "pass",
    }  # fmt: skip


def test_a_pattern_list_instead_of_the_registry(database, dbt):
    patterns = {"tenant_registry": None, "tenant_schema_pattern": ["acme", "globex", "umbrella*", "cust_*"]}
    dbt.run(vars=patterns)
    assert built(database) == expected(["acme", "globex", "Umbrella Corp", "cust_0042"])
    endpoint, name, _ = database
    checks = run_checks(endpoint.conninfo(name), models=[MODEL], sql_dir=None,
                        dbt_vars=project_vars(HERE, patterns))  # fmt: skip
    assert {c.status for c in checks} == {"pass"}
