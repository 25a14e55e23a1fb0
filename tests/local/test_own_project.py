"""A team's own dbt project, run by the harness: no harness variables in its profiles, its packages
installed by the harness, and every setting path (flag, environment, toml, plugin) merged into the
project's own vars, never replacing them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tenant_harness.cli import main
from tenant_harness.runner import default_project_dir

from .test_package import consumer_copy

pytestmark = pytest.mark.local

INCLUDED = ["tenant_a", "tenant_b", "tenant_c"]
# The project's own settings; the harness may change batch_size, but never drop include_tenants.
PROJECT_VARS = {"tenant_processing": {"batch_size": 50, "include_tenants": INCLUDED, "missing_table": "warn"}}


def own_project(tmp_path: Path) -> Path:
    """tests/consumer_project with an include list, the package from this checkout, and no profiles.yml."""
    project = consumer_copy(tmp_path, default_project_dir(), vars=PROJECT_VARS)
    (project / "profiles.yml").unlink()
    return project


def add_noise_schema(db) -> None:
    """A schema matching the tenant pattern, with a users table, that the project does not include."""
    db.query("create schema tenant_noise")
    db.query("create table tenant_noise.users (like tenant_a.users)")
    db.query("insert into tenant_noise.users select * from tenant_a.users")


def built(db) -> tuple[dict[str, int], tuple[int, int, int]]:
    """(rows per tenant in customer_users, (tenants, batches, batch_size) of its latest build)."""
    counts = dict(db.query("select tenant_id, count(*) from analytics.customer_users group by 1"))
    last = db.query(
        "select tenants, batches, batch_size from analytics.tenant_union_runs "
        "where model = 'customer_users' order by finished_at desc limit 1"
    )[0]
    return counts, last


def cli(*args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result


@pytest.mark.tenants(n=5, rows=3)
def test_batch_size_from_every_cli_path_keeps_the_projects_include_list(tenant_database, tmp_path, monkeypatch):
    db = tenant_database
    monkeypatch.chdir(tmp_path)  # no stray tenant-harness.toml
    project = own_project(tmp_path)
    # The variable outranks tenant-harness.toml; a mutation run sets it (to the mutated harness project).
    monkeypatch.delenv("TENANT_HARNESS_PROJECT_DIR", raising=False)
    add_noise_schema(db)
    expected = {name: db.truth.kept_by_tenant[name] for name in INCLUDED}
    toml = tmp_path / "settings.toml"
    toml.write_text(f'[harness]\nbatch_size = 1\nproject_dir = "{project.name}"\n')
    paths = {
        "flag": (["--project-dir", str(project), "run", "--dsn", db.conninfo, "--batch-size", "1"], None),
        "env": (
            ["run", "--dsn", db.conninfo],
            {"TENANT_HARNESS_BATCH_SIZE": "1", "TENANT_HARNESS_PROJECT_DIR": str(project)},
        ),
        "toml": (["--config", str(toml), "run", "--dsn", db.conninfo], None),
    }
    for path, (args, env) in paths.items():
        db.query("drop schema if exists analytics cascade")
        cli(*args, env=env)
        counts, last = built(db)
        assert counts == expected, f"through the {path}"
        assert last == (3, 3, 1), f"through the {path}: batch_size 1 must apply to the 3 included tenants"
    # dbt deps ran on its own: the project lists a package it did not have installed.
    assert (project / "dbt_packages" / "multitenant_analytics" / "dbt_project.yml").exists()


def test_config_shows_the_vars_merged_into_the_projects_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project = own_project(tmp_path)
    result = cli("--project-dir", str(project), "config", env={"TENANT_HARNESS_BATCH_SIZE": "7"})
    assert '"batch_size": 7' in result.output
    assert '"include_tenants": ["tenant_a", "tenant_b", "tenant_c"]' in result.output


pytest_plugins = ["pytester"]


def test_plugin_runs_the_project_named_in_the_ini_with_its_include_list(pytester, tmp_path, monkeypatch):
    project = own_project(tmp_path)
    monkeypatch.setenv("TENANT_HARNESS_BATCH_SIZE", "1")
    monkeypatch.delenv("TENANT_HARNESS_PROJECT_DIR", raising=False)
    pytester.makeini(f"[pytest]\naddopts = --strict-markers\ntenant_harness_project_dir = {project}\n")
    pytester.makepyfile(
        textwrap.dedent(
            f"""
            import pytest

            @pytest.mark.local
            @pytest.mark.tenants(n=5, rows=3)
            def test_own_project(tenant_database, dbt_project, tenant_query):
                tenant_database.query("create schema tenant_noise")
                tenant_database.query("create table tenant_noise.users (like tenant_a.users)")
                tenant_database.query("insert into tenant_noise.users select * from tenant_a.users")
                dbt_project.run()
                counts = dict(tenant_query("select tenant_id, count(*) from analytics.customer_users group by 1"))
                kept = tenant_database.truth.kept_by_tenant
                assert counts == {{name: kept[name] for name in {INCLUDED!r}}}
                assert tenant_query("select batches, batch_size from analytics.tenant_union_runs") == [(3, 1)]
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_project_without_a_profile_name_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project = tmp_path / "p"
    project.mkdir()
    (project / "dbt_project.yml").write_text(yaml.safe_dump({"name": "p", "version": "1", "config-version": 2}))
    result = CliRunner().invoke(main, ["--project-dir", str(project), "run", "--dsn", "host=127.0.0.1 port=1"])
    assert result.exit_code == 1
    assert "names no profile" in result.output and "Hint" in result.output
