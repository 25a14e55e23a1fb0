"""The tenant-harness CLI, in-process, the way a person runs it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tenant_harness.cli import main

pytestmark = pytest.mark.local


# `tenant-harness demo` as the README shows it, its per-tenant counts included, is run by
# test_doc_commands.py (README.md).


def test_up_run_test_verify_exec_down(tmp_path, monkeypatch):
    monkeypatch.setenv("TENANT_HARNESS_STATE_DIR", str(tmp_path / "state"))
    runner = CliRunner()
    steps = [
        ["up", "--tenants", "4", "--rows", "3"],
        ["debug"],
        ["run"],
        ["test"],
        ["verify"],
        ["exec", "--", "show", "--select", "tenant_a_users", "--limit", "3"],
    ]
    try:
        for args in steps:
            result = runner.invoke(main, args, catch_exceptions=False)
            assert result.exit_code == 0, f"{args}: {result.output}"
        again = runner.invoke(main, ["up"])
        assert again.exit_code == 1 and "already up" in again.output
    finally:
        down = runner.invoke(main, ["down"], catch_exceptions=False)
    assert down.exit_code == 0 and "stopped" in down.output
    after = runner.invoke(main, ["run"])
    assert after.exit_code == 1 and "tenant-harness up" in after.output


def test_failing_dbt_command_exits_nonzero_and_names_the_error(tmp_path, monkeypatch, tenant_server):
    monkeypatch.setenv("TENANT_HARNESS_STATE_DIR", str(tmp_path / "state"))
    result = CliRunner().invoke(main, ["exec", "--dsn", tenant_server.conninfo(), "--", "run-operation", "nope"])
    assert result.exit_code == 1
    assert "nope" in result.output


def test_every_command_has_help():
    runner = CliRunner()
    for command in ("", "up", "down", "debug", "run", "test", "verify", "exec", "demo"):
        result = runner.invoke(main, [*command.split(), "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, command


def test_sigterm_mid_run_cleans_up_and_exits_130(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from tenant_harness.server import scratch_root

    before = set(scratch_root().glob("tenant-harness-pg-*"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenant_harness.cli", "demo", "--tenants", "300", "--rows", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
    )  # fmt: skip
    for line in proc.stdout:
        if "== dbt run" in line:
            time.sleep(1.0)  # inside dbt now
            proc.send_signal(signal.SIGTERM)
            break
    output = proc.stdout.read()
    assert proc.wait(timeout=60) == 130, output
    assert "interrupted" in output
    assert set(scratch_root().glob("tenant-harness-pg-*")) <= before  # its server folder is gone
    assert _servers() <= {str(folder) for folder in before}  # and its postmaster


def _servers() -> set[str]:
    """Folders of the embedded servers running now under this run's scratch root (other harnesses
    on the machine, e.g. parallel mutation runs with their own TENANT_HARNESS_TMPDIR, are not ours)."""
    import psutil

    from tenant_harness.server import scratch_root

    root = scratch_root().resolve()
    folders = set()
    for proc in psutil.process_iter(["cmdline"]):
        args = proc.info["cmdline"] or []
        if "-D" in args and "tenant-harness-pg-" in " ".join(args):
            folder = Path(args[args.index("-D") + 1]).parent
            if folder.resolve().parent == root:
                folders.add(str(folder))
    return folders


def test_verify_that_runs_no_check_is_an_error(tmp_path, tenant_server):
    empty = tmp_path / "checks"
    empty.mkdir()
    result = CliRunner().invoke(main, ["verify", "--dsn", tenant_server.conninfo(), "--sql-dir", str(empty)])
    assert result.exit_code == 1
    # Nothing was built here: the model's own checks cannot run, and say why in one line.
    assert "model analytics.all_users does not exist. Hint:" in result.output
    assert len(result.output.strip().splitlines()) == 1
