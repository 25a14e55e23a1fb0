"""The rough edges a new user hit, each pinned by a test: messages printed as written (no markup
eaten), `--config` after the command, what `up` hands on (tenant count, source rows, a psql line),
the state file found from any folder of the project, filter typos answered with the names that
exist, and a run-report chart that reads right for uniform data.

The README's commands themselves (estimate through exec, no colour codes in piped output, generated
files ignored by git) are run by test_doc_commands.py."""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from tenant_harness import state as state_file
from tenant_harness.cli import main
from tenant_harness.dataset import tenant_names
from tenant_harness.report import RunReport, _markdown, figure

from ..unit.jinja_macros import CompilerError, Macros

pytestmark = pytest.mark.local

REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_messages_keep_square_brackets(monkeypatch):
    real_find_spec = importlib.util.find_spec
    # As on a machine without the docker extra: the hint names it in brackets.
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "testcontainers" else real_find_spec(name, *a)
    )
    result = invoke("up", "--backend", "docker")
    assert result.exit_code == 1
    assert "pip install 'tenant-harness[docker]'" in result.output, result.output

    monkeypatch.setenv("TENANT_HARNESS_TENANTS", "[3]")
    result = invoke("config")
    assert result.exit_code == 1 and "got '[3]'" in result.output, result.output


def test_config_option_after_the_command_and_errors_name_the_file(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text("[harness]\ntenants = 7\ninclude_tenants = ['tenant_[ab]']\n")
    for args in (["config", "--config", str(good)], ["--config", str(good), "config"]):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
        assert re.search(r"tenants\s+\S\s+7\s+\S\s+file", result.output), result.output
        assert "tenant_[ab]" in result.output  # a glob is shown as written, not read as markup

    bad = tmp_path / "elsewhere" / "bad.toml"
    bad.parent.mkdir()
    bad.write_text("[harness]\nrows = 'many'\n")
    result = invoke("config", "--config", str(bad))
    assert result.exit_code == 1
    assert "rows must be a whole number, got 'many'" in result.output
    assert str(bad) in result.output and "tenant-harness.toml" not in result.output, result.output
    bad.write_text("[harness]\ntenants = -2\n")  # the right type, out of range
    result = invoke("--config", str(bad), "up")
    assert result.exit_code == 1
    assert f"tenants must be >= 0, got -2 (from {bad})." in result.output, result.output


def test_after_up_config_run_and_psql_use_what_up_made_from_any_folder(tmp_path, monkeypatch):
    """One `up` for the checks that need it: run from a folder deep inside a project (a .git at its
    root), `config` shows up's tenant count, `run`'s report has source and dropped rows from the
    truth in the database, and the printed psql line works."""
    monkeypatch.delenv("TENANT_HARNESS_STATE_DIR", raising=False)
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    deep = project / "dbt" / "models"
    deep.mkdir(parents=True)
    monkeypatch.chdir(project)
    up = invoke("up", "--tenants", "30", "--rows", "4")
    assert up.exit_code == 0, up.output
    try:
        assert (project / ".tenant-harness" / "state.json").exists()
        psql_line = next(line for line in up.output.splitlines() if line.startswith("psql: "))
        dsn_line = next(line for line in up.output.splitlines() if line.startswith("dsn:  "))
        command = shlex.split(psql_line.removeprefix("psql: "))
        truth_sql = "select sum(source_rows), count(*) from harness_truth.tenant_rows where table_name = 'users'"
        psql = subprocess.run([*command, "-At", "-c", truth_sql], capture_output=True, text=True, timeout=60)
        assert psql.returncode == 0, psql.stderr
        with psycopg.connect(dsn_line.removeprefix("dsn:  ")) as conn:
            source_rows, tenants = conn.execute(truth_sql).fetchone()
        assert psql.stdout.strip() == f"{source_rows}|{tenants}" and tenants == 30

        monkeypatch.chdir(deep)  # later commands from anywhere inside the project find the server
        config = invoke("config")
        assert re.search(r"tenants\s+\S\s+30\s+\S\s+up\s", config.output), config.output

        run = invoke("run")
        assert run.exit_code == 0, run.output
        with psycopg.connect(dsn_line.removeprefix("dsn:  ")) as conn:
            rows_out = conn.execute("select count(*) from analytics.all_users").fetchone()[0]
        assert re.search(rf"rows in \(source\)\s+\S\s+{source_rows}\s", run.output), run.output
        assert re.search(rf"dropped rows \(invalid\)\s+\S\s+{source_rows - rows_out}\s", run.output), run.output
        assert source_rows > rows_out  # the generator makes invalid rows: the count is not trivially 0
    finally:
        down = invoke("down")
    assert down.exit_code == 0 and "stopped" in down.output, down.output
    assert not (project / ".tenant-harness").exists()


def test_state_file_is_found_as_git_finds_its_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("TENANT_HARNESS_STATE_DIR", raising=False)
    root = tmp_path / "root"
    deep = root / "a" / "b"
    deep.mkdir(parents=True)
    # Outside any project: the current folder.
    assert state_file.state_path(deep) == deep / ".tenant-harness" / "state.json"
    # Inside one: the project root, also for a new state.
    (root / "tenant-harness.toml").write_text("")
    assert state_file.state_path(deep) == root / ".tenant-harness" / "state.json"
    # A state file on the way up wins; none is looked for above the root.
    (tmp_path / ".tenant-harness").mkdir()
    (tmp_path / ".tenant-harness" / "state.json").write_text("{}")
    assert state_file.state_path(deep) == root / ".tenant-harness" / "state.json"
    (root / "a" / ".tenant-harness").mkdir()
    (root / "a" / ".tenant-harness" / "state.json").write_text("{}")
    assert state_file.state_path(deep) == root / "a" / ".tenant-harness" / "state.json"
    monkeypatch.setenv("TENANT_HARNESS_STATE_DIR", str(tmp_path / "elsewhere"))
    assert state_file.state_path(deep) == tmp_path / "elsewhere" / "state.json"


def test_a_filter_name_that_does_not_exist_is_answered_with_names_that_do():
    macros = Macros("discovery/get_filtered_tenant_schemas.sql", "utils/_sql_text.sql")
    tenants = [{"name": name} for name in tenant_names(30)]
    with pytest.raises(CompilerError) as error:
        macros._apply_globs(tenants, ["tenant_0001", "sample_tenant"], "include_tenants", True, "error")
    message = str(error.value)
    assert "include_tenants names tenants that do not exist: sample_tenant." in message
    assert "30 tenant(s) exist (pattern 'tenant_*'): tenant_0001, tenant_0002" in message
    assert "... tenant_0030." in message and "\n" not in message.strip()


def test_generated_tenant_names_are_documented():
    assert tenant_names(26)[0] == "tenant_a" and tenant_names(26)[-1] == "tenant_z"
    assert tenant_names(27)[:1] == ["tenant_0001"] and tenant_names(10000)[-1] == "tenant_10000"
    assert "`tenant_a`..`tenant_z`" in (REPO / "docs" / "cli.md").read_text()
    assert "`tenant_0001`, `tenant_0002`" in (REPO / "docs" / "cli.md").read_text()


def test_report_chart_and_markdown_for_uniform_data():
    report = RunReport(
        model="all_users", tenants=3, batches=1, batch_size=50, rows_out=3000, build_seconds=0.5,
        incremental=False, batch_stats=[[3, 3000, 0.5]],
        rows_per_tenant={"tenant_a": 1000, "tenant_b": 1000, "tenant_c": 1000}, rows_in=3000,
    )  # fmt: skip
    fig = figure(report)
    fig.canvas.draw()
    left, right = fig.axes
    assert [t.get_text() for t in left.get_xticklabels()] == ["1000"]
    assert left.xaxis.get_offset_text().get_text() == ""
    assert left.get_title() == "rows per tenant (3 tenants)"
    assert right.get_title() == "time per batch (1 batch of <= 50)"
    markdown = _markdown(report)
    assert "](report.png)" in markdown and "attach report.png" in markdown


def test_down_with_a_corrupt_state_file_says_so_and_force_removes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TENANT_HARNESS_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.json").write_text('{"endpoint": {"host": ')
    down = CliRunner().invoke(main, ["down"])
    assert down.exit_code == 1, down.output
    assert down.output.startswith("error: unreadable state file") and down.output.count("\n") == 1, down.output
    assert "down --force" in down.output
    forced = invoke("down", "--force")
    assert forced.exit_code == 0, forced.output
    assert not (tmp_path / "state" / "state.json").exists()


def test_a_pg_bin_folder_without_postgres_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TENANT_HARNESS_STATE_DIR", str(tmp_path / "state"))
    empty = tmp_path / "no-postgres-here"
    empty.mkdir()
    monkeypatch.setenv("TENANT_HARNESS_PG_BIN", str(empty))
    up = CliRunner().invoke(main, ["up"])
    assert up.exit_code == 1, up.output
    assert up.output.startswith(f"error: TENANT_HARNESS_PG_BIN={empty} has no initdb"), up.output
    assert up.output.count("\n") == 1 and "Hint:" in up.output
    assert not (tmp_path / "state" / "state.json").exists()


def test_down_after_up_dsn_with_the_server_unreachable_says_what_it_could_not_drop(tmp_path, monkeypatch):
    from tenant_harness.server import Endpoint, free_port

    monkeypatch.setenv("TENANT_HARNESS_STATE_DIR", str(tmp_path / "state"))
    endpoint = Endpoint(host="127.0.0.1", port=free_port(), user="u", password="s3cret", dbname="theirs")
    state_file.save(state_file.HarnessState(endpoint, "theirs", "dsn", created_schemas=["tenant_a", "harness_truth"]))
    down = CliRunner().invoke(main, ["down"])
    assert down.exit_code == 1 and down.output.count("\n") == 1, down.output
    assert f"cannot reach host=127.0.0.1 port={endpoint.port}" in down.output
    assert "to drop the 2 schemas up created there" in down.output and "down --force" in down.output
    assert (tmp_path / "state" / "state.json").exists()
    forced = invoke("down", "--force")
    assert forced.exit_code == 0 and "dropped nothing" in forced.output, forced.output
    assert not (tmp_path / "state" / "state.json").exists()
