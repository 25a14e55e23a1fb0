"""A password reaches the server and nowhere else: not dbt's output or logs, errors, or state."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner

from tenant_harness.cli import main
from tenant_harness.database import create_database
from tenant_harness.errors import DbtRunError, ServerStartError
from tenant_harness.runner import DbtProject
from tenant_harness.server import EmbeddedServer, ExistingServer
from tenant_harness.tenants import generate_tenants

pytestmark = pytest.mark.local


def test_password_never_leaks(tmp_path, monkeypatch, capfd):
    secret = f"pw-{uuid.uuid4().hex}"
    monkeypatch.setenv("TENANT_HARNESS_STATE_DIR", str(tmp_path / "state"))
    seen: list[str] = []
    with EmbeddedServer(password=secret).start() as server:
        create_database(server.endpoint, "multitenant_analytics")
        generate_tenants(server.endpoint.conninfo("multitenant_analytics"))
        dsn = server.endpoint.conninfo("multitenant_analytics")
        assert secret in dsn  # it is really used ...
        with pytest.raises(ServerStartError) as wrong:
            ExistingServer(dsn=dsn.replace(secret, secret + "x")).start()
        assert "refused the connection" in str(wrong.value)  # at once, not after a wait
        seen.append(str(wrong.value))
        with DbtProject(env=server.endpoint.dbt_env("multitenant_analytics"), work_dir=tmp_path / "dbt") as project:
            project.debug()
            project.run()
            with pytest.raises(DbtRunError) as failed:
                project.run(vars={"tenant_processing": {"batch_size": 0}})
            seen.append(str(failed.value))
        runner = CliRunner()
        for args in (["up", "--dsn", dsn, "--replace"], ["run"], ["verify"], ["exec", "--", "debug"]):
            # After `up`, commands find the server in the state file and the password in PGPASSWORD.
            result = runner.invoke(main, args, catch_exceptions=False, env={"PGPASSWORD": secret})
            assert result.exit_code == 0, result.output
            seen.append(result.output)
        seen.append((tmp_path / "state" / "state.json").read_text())
        runner.invoke(main, ["down"])
    captured = capfd.readouterr()
    seen += [captured.out, captured.err]
    seen += [p.read_text(errors="replace") for p in (tmp_path / "dbt").rglob("*") if p.is_file()]
    assert all(secret not in text for text in seen)  # ... and never shown


@pytest.mark.parametrize(
    "dsn",
    ["postgresql://u:hunter2@h/db?bogus=1", "postgresql://u:hunter2@h:5x432/db", "host=h password=hunter2 bogus=1"],
)
def test_a_dsn_that_cannot_be_used_is_reported_without_its_password(dsn):
    result = CliRunner().invoke(main, ["run"], env={"TENANT_HARNESS_DSN": dsn})
    assert result.exit_code == 1 and "DSN" in result.output
    assert "hunter2" not in result.output


@pytest.mark.parametrize("special", ["%", " ", "'", '"', "@", "/", ":", "%zz"])
@pytest.mark.parametrize("form", ["uri", "keyvalue", "quoted"])
def test_no_part_of_a_password_is_shown_whatever_the_dsn_looks_like(special, form):
    password = f"sekr{special}etzz"
    dsn = {
        "uri": f"postgresql://u:{password}@127.0.0.1:1/db",
        "keyvalue": f"host=127.0.0.1 port=1 user=u password={password} dbname=db",
        "quoted": f"host=127.0.0.1 port=1 user=u password='{password}' dbname=db",
    }[form]
    for args in (["run"], ["verify"], ["config"]):
        result = CliRunner().invoke(main, args, env={"TENANT_HARNESS_DSN": dsn})
        assert (
            "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
        ), result.output
        assert "sekr" not in result.output and "etzz" not in result.output, (args, result.output)
