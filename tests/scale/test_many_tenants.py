"""10,000 and 50,000 tenants x 2 rows on default server settings: the build works, every row of
all_users is the generator's truth, the run log and the harness's checks agree. `pytest -m scale`.

Each size is generated straight into a database of its own (no template: cloning 200,000 relations
costs more than creating them). The generation's schemas/s and the build's cost per tenant at each
size are printed, never asserted (timing depends on the machine's load; bench/ measures ratios).
"""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest

from tenant_harness.database import create_database, drop_database
from tenant_harness.runner import DbtProject
from tenant_harness.tenants import expected_all_users, generate_tenants, plan_tenants
from tenant_harness.verify import run_checks

pytestmark = pytest.mark.scale

SEED = 11
ROWS = 2
NULL_ID_EVERY = 50  # every 50th tenant without a primary key, with rows of null user_id to drop
BATCH_SIZE = 100
COLUMNS = ("tenant_id", "user_id", "email", "first_name", "last_name", "registration_date", "last_login_date",
           "account_status", "subscription_tier", "created_at", "updated_at")  # fmt: skip
# One database name for both sizes, so that dbt parses partially from one build to the next.
DBNAME = f"th_scale_{uuid.uuid4().hex[:10]}"
_model_seconds: dict[int, float] = {}  # tenants -> the all_users node's seconds, for the summary line


@pytest.mark.parametrize("tenants", [10_000, 50_000], ids=["10k", "50k"])
def test_every_row_is_the_generators_truth(tenants, tenant_server, dbt_work_dir, capsys):
    endpoint = tenant_server.endpoint
    conninfo = endpoint.conninfo(DBNAME)
    drop_database(endpoint, DBNAME)  # the previous size's, should its drop have failed
    create_database(endpoint, DBNAME)
    try:
        with psycopg.connect(conninfo) as conn:
            locks = conn.execute("show max_locks_per_transaction").fetchone()[0]
        assert locks == "64"  # the default: loading and batches must keep locks bounded on their own

        truth = generate_tenants(conninfo, tenants, ROWS, SEED, null_id_every=NULL_ID_EVERY)
        vars = {"tenant_processing": {"batch_size": BATCH_SIZE, "max_tenant_limit": tenants}}
        with DbtProject(env=endpoint.dbt_env(DBNAME), work_dir=dbt_work_dir, quiet=True, artifacts=False) as project:
            result = project.run("all_users", vars=vars, full_refresh=True)

        specs = plan_tenants(tenants, rows=ROWS, seed=SEED, null_id_every=NULL_ID_EVERY)
        with psycopg.connect(conninfo) as conn:
            got = conn.execute(f"select {', '.join(COLUMNS)} from analytics.all_users").fetchall()
            log = conn.execute(
                "select tenants, batches, rows_written, incremental from analytics.tenant_union_runs"
                " where model = 'all_users' order by finished_at desc limit 1"
            ).fetchone()
        got.sort(key=lambda r: (r[0], r[1]))
        expected = expected_all_users(SEED, specs)
        assert len(got) == len(expected) == truth.kept_rows
        assert got == expected  # row by row, every column
        assert log == (tenants, -(-tenants // BATCH_SIZE), truth.kept_rows, False)
        assert [(c.name, c.status) for c in run_checks(conninfo) if c.status != "pass"] == []
    finally:
        drop_database(endpoint, DBNAME)

    model_s = result.node("all_users").seconds
    _model_seconds[tenants] = model_s
    line = (
        f"{tenants:,} x {ROWS}: generated in {truth.seconds:.1f} s ({tenants / truth.seconds:,.0f} schemas/s); "
        f"all_users built in {model_s:.1f} s ({model_s / tenants * 1e6:.0f} us per tenant; "
        f"dbt run {result.seconds:.1f} s)"
    )
    if tenants != 10_000 and 10_000 in _model_seconds:
        ratio = (model_s / tenants) / (_model_seconds[10_000] / 10_000)
        line += f"; per tenant {ratio:.2f}x the cost at 10,000"
    with capsys.disabled():
        print(f"\n[scale] {line}; load average {os.getloadavg()[0]:.1f}")
