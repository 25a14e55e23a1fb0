"""multitenant_analytics as an installed dbt package: tests/consumer_project, a separate dbt project
(`acme_analytics`), installs it with `dbt deps` and builds its own model with the package's macros
and its `tenant_union` materialization, against generated tenants."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
import yaml

from tenant_harness.errors import DbtRunError
from tenant_harness.runner import DbtProject, default_project_dir
from tenant_harness.tenants import expected_all_users, plan_tenants

pytestmark = pytest.mark.local

CONSUMER = Path(__file__).resolve().parents[1] / "consumer_project"
# What dbt writes into a project folder: never copied along.
_GENERATED = shutil.ignore_patterns("target", "logs", "dbt_packages", "package-lock.yml", ".user.yml")


def consumer_copy(tmp_path: Path, package_dir: Path, *, vars: dict | None = ...) -> Path:
    """tests/consumer_project copied to tmp_path, installing the package from ``package_dir`` (an
    absolute `local:` path); ``vars`` replaces the consumer's vars (None removes them)."""
    project = tmp_path / "consumer"
    shutil.copytree(CONSUMER, project, ignore=_GENERATED)
    (project / "packages.yml").write_text(yaml.safe_dump({"packages": [{"local": str(package_dir.resolve())}]}))
    if vars is not ...:
        edit_yaml(project / "dbt_project.yml", lambda d: d.update(vars=vars) if vars else d.pop("vars", None))
    return project


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def query(db, sql: str) -> list[tuple]:
    with psycopg.connect(db.conninfo) as conn:
        return conn.execute(sql).fetchall()


def per_tenant(db) -> dict[str, int]:
    return dict(query(db, "select tenant_id, count(*) from analytics.customer_users group by 1"))


def last_build(db) -> tuple[int, int, int]:
    """(tenants, batches, batch_size) of the latest customer_users build, as the materialization
    recorded it."""
    return query(db, "select tenants, batches, batch_size from analytics.tenant_union_runs "
                     "where model = 'customer_users' order by finished_at desc limit 1")[0]  # fmt: skip


@pytest.mark.tenants(n=5, rows=3)
def test_consumer_project_builds_with_the_installed_package(tenant_database, tmp_path):
    db = tenant_database
    project_dir = consumer_copy(tmp_path, default_project_dir())
    with DbtProject(env=db.dbt_env(), project_dir=project_dir, work_dir=tmp_path / "dbt", quiet=True) as dbt:
        dbt.invoke("deps")
        assert (project_dir / "dbt_packages" / "multitenant_analytics" / "dbt_project.yml").exists()

        run = dbt.run()
        # Only the consumer's model: the package's own models are disabled in its dbt_project.yml.
        assert [n.name for n in run.nodes] == ["customer_users"]
        assert per_tenant(db) == {name: kept for name, kept in db.truth.kept_by_tenant.items() if kept}
        assert len(per_tenant(db)) == 5
        # Row by row: the generator's cleaned rows, with the consumer's own columns derived from them.
        expected = [
            (r[0], r[1], r[2], r[2].split("@")[1])
            for r in expected_all_users(db.spec.seed, plan_tenants(db.spec.n, rows=db.spec.rows, seed=db.spec.seed))
        ]
        got = query(db, "select tenant_id, user_id, email, email_domain from analytics.customer_users order by 1, 2")
        assert got == expected
        # The consumer's var (batch_size: 2 in its dbt_project.yml) reached the package's macros:
        # 5 tenants in 3 batches, not the package's 50 in 1.
        assert last_build(db) == (5, 3, 2)

        test = dbt.test()
        assert {n.name for n in test.nodes} == {"not_null_customer_users_tenant_id", "not_null_customer_users_user_id"}

        # Another tenant_processing setting from the consumer's dbt_project.yml: exclude_tenants.
        edit_yaml(project_dir / "dbt_project.yml",
                  lambda d: d["vars"]["tenant_processing"].update(exclude_tenants=["tenant_e"]))  # fmt: skip
        dbt.run()
        expected_counts = {k: v for k, v in db.truth.kept_by_tenant.items() if v and k != "tenant_e"}
        assert per_tenant(db) == expected_counts
        assert last_build(db) == (4, 2, 2)


@pytest.mark.tenants(n=5, rows=3)
def test_package_vars_do_not_reach_the_consumers_models(tenant_database, tmp_path):
    """Vars in the package's dbt_project.yml apply to the package's own nodes only: rendering the
    consumer's model, the macros see the consumer's vars and otherwise their built-in defaults."""
    db = tenant_database
    package = tmp_path / "package"
    shutil.copytree(default_project_dir(), package, ignore=_GENERATED)

    def set_package_vars(d):
        d["vars"]["tenant_schema_pattern"] = "nomatch_*"  # would find no tenant at all
        d["vars"]["tenant_processing"]["batch_size"] = 1  # would make 5 batches

    edit_yaml(package / "dbt_project.yml", set_package_vars)
    project_dir = consumer_copy(tmp_path, package, vars=None)
    with psycopg.connect(db.conninfo) as conn:  # more than one character after tenant_: `*`, not `?`
        conn.execute("create schema tenant_xy; create table tenant_xy.users as select * from tenant_a.users")
    with DbtProject(env=db.dbt_env(), project_dir=project_dir, work_dir=tmp_path / "dbt", quiet=True) as dbt:
        dbt.invoke("deps")
        dbt.run()
        # The macros' default pattern names itself when nothing is left to build.
        with pytest.raises(DbtRunError, match=r'6 schema\(s\) match pattern "tenant_\*" in database'):
            dbt.run(vars={"tenant_processing": {"include_tenants": ["nomatch"]}})
    assert per_tenant(db) == {**db.truth.kept_by_tenant, "tenant_xy": db.truth.kept_by_tenant["tenant_a"]}
    assert last_build(db) == (6, 1, 50)  # the macros' defaults: pattern tenant_*, batch_size 50
    # And logging.show_performance_stats: the stats block is in dbt's log.
    assert "Total Tenants: 6\nBatch Size: 50\nBatch Count: 1" in (tmp_path / "dbt" / "logs" / "dbt.log").read_text()
