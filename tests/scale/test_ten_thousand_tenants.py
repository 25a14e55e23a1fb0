"""10,000 tenants on default server settings: every row accounted for. `pytest -m scale`."""

from __future__ import annotations

import psycopg
import pytest

from tenant_harness.verify import run_checks

pytestmark = [pytest.mark.scale, pytest.mark.tenants(n=10_000, rows=2, seed=11, null_id_every=50)]


def test_ten_thousand_tenants_every_row_accounted_for(tenant_database, dbt_project):
    with psycopg.connect(tenant_database.conninfo) as conn:
        locks = conn.execute("show max_locks_per_transaction").fetchone()[0]
    assert locks == "64"  # the server's default: batches must keep locks bounded on their own
    dbt_project.run("all_users", vars={"tenant_processing": {"batch_size": 100, "max_tenant_limit": 10_000}})
    with psycopg.connect(tenant_database.conninfo) as conn:
        counts = dict(conn.execute("select tenant_id, count(*) from analytics.all_users group by 1").fetchall())
    assert counts == {t.name: t.kept_rows for t in tenant_database.truth.tenants if t.kept_rows}
    assert [c.name for c in run_checks(tenant_database.conninfo) if c.status != "pass"] == []
