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
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import tempfile
    import time

    # Its own scratch root: other harnesses on the machine (the other xdist worker) start and stop
    # servers meanwhile, so a listing of the shared root before and after proves nothing.
    scratch = Path(tempfile.mkdtemp(prefix="th-", dir="/tmp"))  # short: the server's socket lives in it
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenant_harness.cli", "demo", "--tenants", "300", "--rows", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        env={**os.environ, "TENANT_HARNESS_TMPDIR": str(scratch)},
    )  # fmt: skip
    for line in proc.stdout:
        if "== dbt run" in line:
            time.sleep(1.0)  # inside dbt now
            proc.send_signal(signal.SIGTERM)
            break
    output = proc.stdout.read()
    assert proc.wait(timeout=60) == 130, output
    assert "interrupted" in output
    try:
        assert [p.name for p in scratch.iterdir()] == []  # its server folder is gone
        assert _servers(scratch) == set()  # and its postmaster
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _servers(root: Path) -> set[str]:
    """Folders of the embedded servers running now under scratch root ``root``."""
    import psutil

    root = root.resolve()
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


def test_up_dsn_records_what_it_created_and_down_drops_exactly_that(tmp_path, monkeypatch):
    """In a database the harness did not start: `up --dsn` records the schemas it created (and the dbt
    target schema, here from TENANT_HARNESS_SCHEMA, which dbt must build in), `down` drops exactly
    those; schemas that were there before `up`, a tenant-looking one included, stay."""
    import psycopg

    from tenant_harness.database import create_database
    from tenant_harness.server import EmbeddedServer

    monkeypatch.setenv("TENANT_HARNESS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TENANT_HARNESS_SCHEMA", "reports")
    runner = CliRunner()
    with EmbeddedServer().start() as server:
        create_database(server.endpoint, "theirs")
        dsn = server.endpoint.conninfo("theirs")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create schema keep_me; create table keep_me.t (x int); insert into keep_me.t values (1)")
            conn.execute("create schema tenant_theirs")
        up = runner.invoke(main, ["up", "--dsn", dsn], catch_exceptions=False)
        assert up.exit_code == 0, up.output
        run = runner.invoke(main, ["run"], catch_exceptions=False)
        assert run.exit_code == 0, run.output
        with psycopg.connect(dsn) as conn:
            assert conn.execute("select count(*) from reports.all_users").fetchone()[0] > 0
            assert conn.execute("select to_regnamespace('analytics')").fetchone()[0] is None
        down = runner.invoke(main, ["down"], catch_exceptions=False)
        assert down.exit_code == 0, down.output
        assert "stopped" not in down.output
        expected = "harness_truth, reports, tenant_a, tenant_b, tenant_c"
        assert f"dropped the 5 schemas up created ({expected})" in down.output, down.output
        with psycopg.connect(dsn) as conn:
            left = {
                n for (n,) in conn.execute("select nspname from pg_namespace where nspname !~ '^(pg_|information_)'")
            }
            assert left == {"public", "keep_me", "tenant_theirs"}
            assert conn.execute("select x from keep_me.t").fetchall() == [(1,)]
    assert not (tmp_path / "state" / "state.json").exists()


def test_a_dead_server_up_started_is_named_with_the_fix(tmp_path, monkeypatch):
    """After the embedded server `up` started died: `run` fails with one line naming it and the fix,
    and `up` clears the stale state and starts a new one."""
    import json
    import os
    import signal
    import time

    from tenant_harness.postmaster import alive

    monkeypatch.setenv("TENANT_HARNESS_STATE_DIR", str(tmp_path / "state"))
    runner = CliRunner()
    up = runner.invoke(main, ["up", "--tenants", "1", "--rows", "1"], catch_exceptions=False)
    assert up.exit_code == 0, up.output
    try:
        saved = json.loads((tmp_path / "state" / "state.json").read_text())
        os.kill(saved["pid"], signal.SIGKILL)
        while alive(saved["pid"]):
            time.sleep(0.05)
        run = runner.invoke(main, ["run"], catch_exceptions=False)
        assert run.exit_code == 1
        assert run.output.count("\n") == 1, run.output
        assert f"pid {saved['pid']}) is no longer running" in run.output
        assert "Hint: tenant-harness down, then tenant-harness up." in run.output
        again = runner.invoke(main, ["up", "--tenants", "1", "--rows", "1"], catch_exceptions=False)
        assert again.exit_code == 0, again.output
        assert f"(pid {saved['pid']}, " in again.output and "is no longer running; cleared its state" in again.output
        assert not os.path.exists(saved["base_dir"])
        assert json.loads((tmp_path / "state" / "state.json").read_text())["pid"] != saved["pid"]
    finally:
        down = runner.invoke(main, ["down"], catch_exceptions=False)
    assert down.exit_code == 0 and "stopped embedded server" in down.output, down.output


def test_demo_dsn_drops_the_schemas_it_created_and_nothing_else(tenant_server):
    """`demo --dsn` in a database the harness did not make: it runs end to end there, then drops
    the schemas it created; one that was there before, tenant-looking or not, stays with its rows."""
    import psycopg

    from tenant_harness.database import create_database, drop_database

    create_database(tenant_server.endpoint, "demo_theirs")
    dsn = tenant_server.endpoint.conninfo("demo_theirs")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create schema keep_me; create table keep_me.t (x int); insert into keep_me.t values (1)")
        result = CliRunner().invoke(main, ["demo", "--dsn", dsn], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "all_users: counts_match_truth" in result.output
        with psycopg.connect(dsn) as conn:
            left = {
                n for (n,) in conn.execute("select nspname from pg_namespace where nspname !~ '^(pg_|information_)'")
            }
            assert left == {"public", "keep_me"}
            assert conn.execute("select x from keep_me.t").fetchall() == [(1,)]
        assert "demo: dropped the 5 schemas it created in database demo_theirs" in result.output
    finally:
        drop_database(tenant_server.endpoint, "demo_theirs")


def test_demo_generates_the_tenant_names_a_project_uses(tenant_server, tmp_path, monkeypatch):
    """tenant_names in tenant-harness.toml: the generator makes schemas of those names (not tenant_*),
    and the whole run (dbt, verify against the truth) is about them."""
    import psycopg

    from tenant_harness.database import create_database, drop_database

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tenant-harness.toml").write_text(
        '[harness]\ntenant_names = ["acme", "globex", "Umbrella Corp"]\ntenant_pattern = "*"\nrows = 4\n'
    )
    create_database(tenant_server.endpoint, "named_tenants")
    dsn = tenant_server.endpoint.conninfo("named_tenants")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:  # seen by demo's run: its counts are checked
            conn.execute("drop schema public")
        result = CliRunner().invoke(main, ["demo", "--dsn", dsn], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "generate 3 tenants x 4 rows" in result.output
        assert "all_users per tenant (3 tenants)" in result.output
        for name in ("acme", "globex", "Umbrella Corp"):
            assert name in result.output
        assert "tenant_b" not in result.output  # (tenant_a_users is a model of the project)
    finally:
        drop_database(tenant_server.endpoint, "named_tenants")


def test_tenant_names_must_be_distinct(tmp_path):
    (tmp_path / "t.toml").write_text('[harness]\ntenant_names = ["acme", "acme"]\n')
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "t.toml"), "config"])
    assert result.exit_code == 1 and "tenant_names must be distinct, non-empty schema names" in result.output


def test_up_while_another_up_or_down_runs_is_a_clear_error(tmp_path, monkeypatch):
    """Two `up`s at once each found no state and started a server; the one whose state the other
    overwrote ran on with nothing to stop it. The second now stops at once, starting nothing."""
    from tenant_harness import state

    monkeypatch.setenv("TENANT_HARNESS_STATE_DIR", str(tmp_path / "state"))
    with state.exclusive("up"):  # an `up` (or `down`) in progress
        for command in ("up", "down"):
            result = CliRunner().invoke(main, [command])
            assert result.exit_code == 1, result.output
            assert f"{command}: another tenant-harness up or down is running for" in result.output
            assert "Hint: wait for it" in result.output
    assert not (tmp_path / "state" / "state.json").exists()
    assert CliRunner().invoke(main, ["down"]).output.startswith("down: nothing to stop")  # free again
