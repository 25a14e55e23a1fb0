"""verify for any model: counts per tenant against the truth for the configured selection, every
selected tenant present, no unselected schema, unique keys; clear errors for a missing model and for
zero checks; a project's own checks folder."""

from __future__ import annotations

import json

import psycopg
import pytest
from click.testing import CliRunner

from tenant_harness.cli import main
from tenant_harness.verify import ModelSpec, VerificationError, run_checks
from tests.suites import model_checks

pytestmark = [pytest.mark.local, pytest.mark.tenants(n=5, rows=4, seed=3)]
EXCLUDE = {"tenant_processing": {"exclude_tenants": ["tenant_e"]}}


def execute(db, sql: str) -> None:
    with psycopg.connect(db.conninfo) as conn:
        conn.execute(sql)


def statuses(checks) -> dict[str, str]:
    return {c.name: c.status for c in checks}


def test_checks_honour_the_configured_filters(tenant_database, dbt_project):
    dbt_project.run("all_users", vars=EXCLUDE)
    assert set(statuses(run_checks(tenant_database.conninfo, dbt_vars=EXCLUDE)).values()) == {"pass"}
    # Held to a selection that includes tenant_e, the same table is wrong: the checks can fail.
    wrong = statuses(run_checks(tenant_database.conninfo))
    assert wrong["counts_match_truth"] == wrong["tenants_all_present"] == "fail"
    # And a row from a schema the selection leaves out (an excluded tenant, a noise schema) is caught.
    execute(tenant_database, "insert into analytics.all_users (tenant_id, user_id, email) values ('staging', 1, 'x')")
    assert statuses(run_checks(tenant_database.conninfo, dbt_vars=EXCLUDE))["no_unselected_tenants"] == "fail"


def test_any_model_key_and_tenant_column(tenant_database, dbt_project):
    dbt_project.run("all_users")
    execute(tenant_database, "create table analytics.people as select tenant_id as org, user_id as person_id, "
                             "email from analytics.all_users")  # fmt: skip
    spec = ModelSpec("people", "users", ("person_id",), "org")
    checks = run_checks(tenant_database.conninfo, models=[spec], sql_dir=None)
    assert {c.name for c in checks} == {"counts_match_truth", "tenants_all_present", "rows_match_sources",
                                        "no_unselected_tenants", "unique_key", "keys_not_null"}  # fmt: skip
    assert {c.status for c in checks} == {"pass"} and {c.model for c in checks} == {"people"}

    # The suites' assertions take the same arguments.
    def q(text):
        with psycopg.connect(tenant_database.conninfo) as conn:
            return conn.execute(text).fetchall()

    users = tenant_database.truth.table("users")
    model_checks.counts_equal_truth(q, "analytics.people", users, tenant_column="org")
    model_checks.every_selected_tenant_once(q, "analytics.people", users, tenant_column="org")
    model_checks.unique_key(q, "analytics.people", ["person_id"], tenant_column="org")
    execute(tenant_database, "insert into analytics.people select * from analytics.people limit 1")
    assert statuses(run_checks(tenant_database.conninfo, models=[spec], sql_dir=None))["unique_key"] == "fail"


def test_missing_model_and_zero_checks_are_one_line_errors(tenant_database, tmp_path):
    with pytest.raises(VerificationError, match=r"model analytics\.orders_all does not exist\. Hint: run"):
        run_checks(tenant_database.conninfo, models=[ModelSpec("orders_all", "orders", ("order_id",))])
    with pytest.raises(VerificationError, match="no verification check ran"):
        run_checks(tenant_database.conninfo, models=[], sql_dir=None)
    (tmp_path / "bad.sql").write_text("select * from analytics.nowhere")
    with pytest.raises(VerificationError, match='check bad .*relation "analytics.nowhere" does not exist. Hint'):
        run_checks(tenant_database.conninfo, models=[], sql_dir=None, checks_dir=tmp_path)


def test_a_projects_own_checks_folder(tenant_database, dbt_project, tmp_path):
    dbt_project.run("all_users")
    (tmp_path / "no_example_emails.sql").write_text(
        "-- Emails outside example.com.\nselect email from all_users where email not like '%.example.com'"
    )
    (tmp_path / "one_user_per_tenant.sql").write_text("select tenant_id from all_users where user_id > 1")
    got = statuses(run_checks(tenant_database.conninfo, checks_dir=tmp_path))
    assert got["no_example_emails"] == "pass" and got["one_user_per_tenant"] == "fail"


def test_readme_example_config_with_an_exclude_passes_demo(tmp_path, monkeypatch):
    """The README's example tenant-harness.toml: 30 tenants, tenant_0001 excluded."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tenant-harness.toml").write_text(
        '[harness]\ntenants = 30\nrows = 3\nbatch_size = 10\ntenant_pattern = "tenant_*"\n'
        'exclude_tenants = ["tenant_0001"]\n'
    )
    result = CliRunner().invoke(main, ["demo", "--report", str(tmp_path / "r")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["tenants"] == 29 and "tenant_0001" not in report["rows_per_tenant"]
    assert "no_unselected_tenants" in result.output


def test_tenants_the_generator_did_not_make_are_named_not_failed(tenant_database, dbt_project):
    # A project's own tenant next to the generated ones: it has no truth to compare its count with.
    execute(tenant_database, "create schema tenant_zz; create table tenant_zz.users (like tenant_a.users);"
                             " insert into tenant_zz.users select * from tenant_a.users")  # fmt: skip
    dbt_project.run("all_users")
    counts = {c.name: c for c in run_checks(tenant_database.conninfo)}["counts_match_truth"]
    assert counts.status == "pass", counts.rows
    assert "1 selected tenants have no truth for users: tenant_zz" in counts.description
    # The generated tenants are still compared: one of their rows gone is caught.
    execute(tenant_database, "delete from analytics.all_users where tenant_id = 'tenant_b'")
    assert statuses(run_checks(tenant_database.conninfo))["counts_match_truth"] == "fail"


def test_models_and_checks_folder_from_the_toml(tenant_database, dbt_project, tmp_path):
    """A team's `tenant-harness verify` in CI needs no flags: [[harness.models]] names every model with
    its table and key, checks_dir (relative to the toml) its own checks; a flag names one model instead."""
    dbt_project.run("all_users")
    execute(tenant_database, "create table analytics.people as select tenant_id as org, user_id as person_id, "
                             "email from analytics.all_users")  # fmt: skip
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "no_people_without_email.sql").write_text("select * from people where email is null")
    toml = tmp_path / "tenant-harness.toml"
    toml.write_text(
        '[harness]\nchecks_dir = "checks"\n'
        '[[harness.models]]\nmodel = "all_users"\n'
        '[[harness.models]]\nmodel = "people"\nsource_table = "users"\nkey = "person_id"\ntenant_column = "org"\n'
    )
    verify = ["--config", str(toml), "verify", "--dsn", tenant_database.conninfo]
    result = CliRunner().invoke(main, verify, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for check in (
        "all_users: unique_key",
        "people: unique_key",
        "people: counts_match_truth",
        "no_people_without_email",
    ):
        assert check in result.output, result.output
    # Each listed model is really checked: a duplicate in the second one fails the run.
    execute(tenant_database, "insert into analytics.people select * from analytics.people limit 1")
    assert CliRunner().invoke(main, verify).exit_code == 1
    # A flag names one model; the toml's list is then not used.
    only = CliRunner().invoke(main, [*verify, "--model", "all_users"])
    assert only.exit_code == 0 and "people: unique_key" not in only.output, only.output
    # A checks folder that is not there is an error, never a silent pass.
    toml.write_text('[harness]\nchecks_dir = "chekcs"\n')
    missing = CliRunner().invoke(main, verify)
    assert missing.exit_code == 1 and "checks folder" in missing.output and "chekcs does not exist" in missing.output
