"""The dbt project's documentation: `dbt docs generate` through the CLI, and every model, every
column of all_users, every test and every public macro described; the macro property files parse
without warnings, also under dbt's validate_macro_args flag (the default from dbt 1.12)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tenant_harness.cli import main
from tenant_harness.runner import DbtProject, default_project_dir

pytestmark = pytest.mark.local

PACKAGE = "multitenant_analytics"


@pytest.fixture
def docs(tenant_database, dbt_project, tmp_path, monkeypatch):
    """manifest.json and catalog.json of `tenant-harness exec -- docs generate` after a dbt run
    (the catalog lists only relations that exist)."""
    monkeypatch.setenv("TENANT_HARNESS_STATE_DIR", str(tmp_path / "state"))
    dbt_project.run()
    target = tmp_path / "target"
    # The CLI's dbt work folder is private and removed on exit: --target-path puts the artifacts
    # where the test can read them (a dbt flag wins over the DBT_TARGET_PATH the runner sets).
    result = CliRunner().invoke(
        main,
        ["exec", "--dsn", tenant_database.conninfo, "--", "docs", "generate", "--target-path", str(target)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return (json.loads((target / "manifest.json").read_text()),
            json.loads((target / "catalog.json").read_text()))  # fmt: skip


def ours(manifest: dict, section: str, resource_type: str | None = None) -> dict[str, dict]:
    return {
        node["name"]: node
        for node in manifest[section].values()
        if node["package_name"] == PACKAGE and resource_type in (None, node["resource_type"])
    }


def test_every_model_column_test_and_public_macro_is_described(docs):
    manifest, catalog = docs
    models = ours(manifest, "nodes", "model")
    assert "all_users" in models
    assert [name for name, node in models.items() if not node["description"].strip()] == []

    # Every column the built table really has (from the catalog), not only those the YAML lists.
    table_columns = {c.lower() for c in catalog["nodes"][models["all_users"]["unique_id"]]["columns"]}
    documented = {name.lower(): c["description"] for name, c in models["all_users"]["columns"].items()}
    assert table_columns == set(documented), "all_users columns in the table vs. in schema.yml"
    assert [c for c, text in documented.items() if not text.strip()] == []

    tests = ours(manifest, "nodes", "test")
    assert "assert_every_tenant_present" in tests
    assert [name for name, node in tests.items() if not node["description"].strip()] == []

    # Public macros: every macro of the project not starting with `_`, including the dispatched
    # implementations, the materialization and the generic test.
    macros = {name: m for name, m in ours(manifest, "macros").items() if not name.startswith("_")}
    for expected in ("union_tenant_tables", "get_tenant_schemas", "tenant_config",
                     "materialization_tenant_union_default", "test_unique_combination_of_columns"):  # fmt: skip
        assert expected in macros
    assert sorted(name for name, m in macros.items() if not m["description"].strip()) == []
    undescribed_args = [
        f"{name}({a['name']})"
        for name, m in macros.items()
        for a in m["arguments"]
        if not (a.get("description") or "").strip() or not (a.get("type") or "").strip()
    ]
    assert undescribed_args == []


def parse_warnings(project_dir: Path, work_dir: Path) -> tuple[str, ...]:
    # dbt parse needs no database; the profile's defaults are enough to render it.
    with DbtProject(env={}, project_dir=project_dir, work_dir=work_dir, quiet=True) as project:
        return project.invoke("parse").warnings


def test_parse_has_no_warnings(tmp_path):
    assert parse_warnings(default_project_dir(), tmp_path / "dbt") == ()


def test_documented_macro_arguments_match_the_macros(tmp_path):
    """Under validate_macro_args dbt checks documented argument names against each macro's
    signature and their types against its vocabulary; a mismatch is a parse warning."""
    copy = tmp_path / "project"
    shutil.copytree(default_project_dir(), copy,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"))  # fmt: skip
    project_yml = copy / "dbt_project.yml"
    data = yaml.safe_load(project_yml.read_text())
    data.setdefault("flags", {})["validate_macro_args"] = True
    project_yml.write_text(yaml.safe_dump(data, sort_keys=False))
    assert parse_warnings(copy, tmp_path / "dbt") == ()
