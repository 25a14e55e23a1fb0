"""The run report (table, JSON, Markdown, PNG) and the config file with its precedence."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tenant_harness.cli import main
from tenant_harness.config import HarnessConfig
from tenant_harness.errors import ConfigError

pytestmark = pytest.mark.local


def test_demo_writes_a_report_that_adds_up(tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["demo", "--tenants", "12", "--rows", "40", "--batch-size", "5", "--report",
                                       str(out)], catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((out / "report.json").read_text())
    assert data["tenants"] == 12 and data["batches"] == 3 and len(data["batch_stats"]) == 3
    assert data["rows_out"] == 12 * 40 == sum(data["rows_per_tenant"].values())
    assert data["rows_in"] - data["rows_out"] == data["dropped_rows"] > 0
    assert sum(b[1] for b in data["batch_stats"]) == data["rows_out"]
    assert "| rows out | 480 |" in (out / "report.md").read_text()
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "dropped rows (invalid)" in result.output


def test_precedence_flag_env_file_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tenant-harness.toml").write_text(
        "[harness]\ntenants = 50\nrows = 9\nbatch_size = 25\ntenant_pattern = 'customer_*'\n"
        "exclude_tenants = ['customer_test*']\n"
    )
    config = HarnessConfig.build({"TENANT_HARNESS_ROWS": "7"}, tenants=5)
    assert (config.tenants, config.rows, config.batch_size, config.seed) == (5, 7, 25, 42)
    assert config.sources["tenants"] == "flag" and config.sources["rows"] == "env"
    assert config.sources["batch_size"] == "file" and config.sources["seed"] == "default"
    assert config.dbt_vars() == {
        "tenant_processing": {"batch_size": 25, "exclude_tenants": ["customer_test*"]},
        "tenant_schema_pattern": "customer_*",
    }


def test_config_file_errors_and_secrets(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[harness]\nbatchsize = 3\n")
    with pytest.raises(ConfigError, match="unknown setting\\(s\\) batchsize"):
        HarnessConfig.build({}, config_file=bad)
    bad.write_text("[harness]\ndsn = 'postgresql://u:hunter2@h/d'\n")
    with pytest.raises(ConfigError, match="holds a password") as exc:
        HarnessConfig.build({}, config_file=bad)
    assert "hunter2" not in str(exc.value)
    with pytest.raises(ConfigError, match="does not exist"):
        HarnessConfig.build({}, config_file=tmp_path / "missing.toml")


def test_config_command_shows_values_sources_and_masks_passwords(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tenant-harness.toml").write_text("[harness]\nbatch_size = 30\n")
    result = CliRunner().invoke(main, ["config"], env={"TENANT_HARNESS_DSN": "postgresql://u:hunter2@h:5/d"})
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output and "****" in result.output
    assert "batch_size" in result.output and "file" in result.output
    assert '"batch_size": 30' in result.output
