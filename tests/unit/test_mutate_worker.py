"""The long-lived mutation workers (tenant_harness.mutate.worker): mutants run one after another in one
process, and none sees what the one before left (files in the copy, environment, imported test
modules); a worker that dies is an error, never a kill."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from tenant_harness.mutate.command import Options, main

from .mutate_marks import MUTATE_TOOL_MARKS, _own_cache  # noqa: F401 (autouse)

pytestmark = MUTATE_TOOL_MARKS

MACRO = """{% macro in_range(x, n) %}
    {{ return(x >= n and x <= 10) }}
{% endmacro %}
"""

# Never fails on a mutant, only on what an earlier run left behind: every mutant must survive.
SEES_NO_LEFTOVERS = """
import os
from pathlib import Path

with open({imports!r}, "a") as f:
    f.write("import\\n")
SOURCE = (Path(os.environ["TENANT_HARNESS_PROJECT_DIR"]) / "macros" / "m.sql").read_text()


def test_a_clean_copy_and_environment():
    assert SOURCE == (Path(os.environ["TENANT_HARNESS_PROJECT_DIR"]) / "macros" / "m.sql").read_text()
    assert not Path("leftover").exists()
    Path("leftover").write_text("x")
    assert "LEFT_BY_A_TEST" not in os.environ
    os.environ["LEFT_BY_A_TEST"] = "1"
"""

DIES_ON_A_MUTANT = """
import os
from pathlib import Path


def test_exits_the_process():
    if "x >= n and x <= 10" not in (Path(os.environ["TENANT_HARNESS_PROJECT_DIR"]) / "macros/m.sql").read_text():
        os._exit(1)
"""


def _run(tmp_path: Path, test_source: str) -> list[dict]:
    (tmp_path / "proj" / "macros").mkdir(parents=True)
    (tmp_path / "proj" / "macros" / "m.sql").write_text(MACRO)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_m.py").write_text(textwrap.dedent(test_source))
    out = tmp_path / "out.json"
    with open(os.devnull, "w") as quiet:
        options = Options(project_dir=tmp_path / "proj", root=tmp_path, json_file=out, jobs=1,
                          test_command="pytest -q -p no:cacheprovider")  # fmt: skip
        assert main(options, Console(file=quiet)) == 0
    return json.loads(out.read_text())["mutants"]


def test_each_mutant_in_a_worker_starts_from_the_snapshot(tmp_path):
    imports = tmp_path / "imports"
    mutants = _run(tmp_path, SEES_NO_LEFTOVERS.format(imports=str(imports)))
    assert len(mutants) >= 3
    assert [(m["status"], m["detail"]) for m in mutants] == [("survived", "")] * len(mutants)
    # The test module was imported afresh for each mutant (and once for the control).
    assert imports.read_text().count("import") == 1 + len(mutants)


# A module imported before the session (json) keeps a reference to one the session imported from
# outside the copy (psycopg2), as dbt's adapter does: the next session must see the same one.
KEEPS_THIRD_PARTY_MODULES = """
import psycopg2
import json
import os
from pathlib import Path


def test_a_module_from_outside_the_copy_is_imported_once():
    (Path(os.environ["TENANT_HARNESS_PROJECT_DIR"]) / "macros" / "m.sql").read_text()  # reaches every mutant
    json.kept_by_the_test = getattr(json, "kept_by_the_test", psycopg2)
    assert json.kept_by_the_test is psycopg2
"""


def test_modules_from_outside_the_copy_stay_imported_between_mutants(tmp_path):
    """Forgetting them made a second copy of psycopg2 beside the one dbt held, and a dbt test
    failed for that alone: a false kill."""
    mutants = _run(tmp_path, KEEPS_THIRD_PARTY_MODULES)
    assert len(mutants) >= 3
    assert [(m["status"], m["detail"]) for m in mutants] == [("survived", "")] * len(mutants)


def test_a_worker_that_dies_is_an_error_never_a_kill(tmp_path):
    mutants = _run(tmp_path, DIES_ON_A_MUTANT)
    assert len(mutants) >= 3
    assert [(m["status"], m["detail"]) for m in mutants] == [("error", "the mutation worker died")] * len(mutants)


REWRITES_BY_BYTES = """
import subprocess
import sys
from pathlib import Path

import pytest

from tenant_harness.mutate.worker import _remember_rewritten_tests

_remember_rewritten_tests()
test = Path(sys.argv[1]) / "test_x.py"
codes = []
for body in ("assert 1 == 1", "assert 1 == 2", "assert 1 == 1", "assert 1 == 2"):
    test.write_text("def test_x():\\n    " + body + "\\n")
    for name in [m for m in sys.modules if m == "test_x"]:
        del sys.modules[name]
    codes.append(int(pytest.main(["-q", "-p", "no:cacheprovider", str(test)])))
print(codes)
"""


def test_a_worker_rewrites_a_test_module_again_when_its_bytes_change(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(REWRITES_BY_BYTES)
    (tmp_path / "t").mkdir()
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "t")], capture_output=True, text=True,
                         cwd=tmp_path / "t", env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})  # fmt: skip
    assert out.stdout.strip().splitlines()[-1] == "[0, 1, 0, 1]", out.stdout + out.stderr


def test_the_shared_server_is_kept_only_when_a_session_left_nothing_behind():
    import psycopg

    from tenant_harness.mutate.worker import SharedServer
    from tenant_harness.templates import create_database

    shared = SharedServer()
    try:
        server = shared.get()
        server.stop()  # the fixture's stop: the server outlives the session
        assert shared.get() is server
        # What a session leaves that a drop removes: its databases, its roles and what they own.
        create_database(server.endpoint, "left_by_a_session")
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute("create role analyst login")
            conn.execute("grant connect on database template1 to analyst")
        left_open = psycopg.connect(server.conninfo(), autocommit=True)  # a connection a test never closed
        shared.reset()
        assert shared.get() is server
        with pytest.raises(psycopg.OperationalError):
            left_open.execute("select 1")
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            assert conn.execute("select count(*) from pg_database where datname = 'left_by_a_session'").fetchone() == (
                0,
            )
            assert conn.execute("select count(*) from pg_roles where rolname = 'analyst'").fetchone() == (0,)
            # What a drop does not remove: a table in the postgres database. The server goes.
            conn.execute("create table leftover (x int)")
        shared.reset()
        assert shared.server is None
        fresh = shared.get()
        assert fresh is not server
        with psycopg.connect(fresh.conninfo(), autocommit=True) as conn:
            assert conn.execute("select to_regclass('leftover')").fetchone() == (None,)
    finally:
        shared.stop_for_good()


# Reads the macro (so every mutant runs it), never fails on one, and leaves a database and a role of
# fixed names on the session's server: a mutant that saw them would fail ("already exists").
LEAVES_A_DATABASE_AND_A_ROLE = """
import os
from pathlib import Path

import psycopg


def test_leaves_state(tenant_server):
    assert "in_range" in (Path(os.environ["TENANT_HARNESS_PROJECT_DIR"]) / "macros" / "m.sql").read_text()
    with open({servers!r}, "a") as f:
        f.write(f"{{tenant_server.pid}}\\n")
    with psycopg.connect(tenant_server.conninfo(), autocommit=True) as conn:
        conn.execute("create database left_behind")
        conn.execute("create role analyst login")
"""


def test_a_workers_mutants_share_its_server_and_none_sees_what_the_one_before_left(tmp_path):
    servers = tmp_path / "servers"
    mutants = _run(tmp_path, LEAVES_A_DATABASE_AND_A_ROLE.format(servers=str(servers)))
    assert len(mutants) >= 3
    assert [(m["status"], m["detail"]) for m in mutants] == [("survived", "")] * len(mutants)
    control, *in_worker = servers.read_text().split()
    assert len(in_worker) == len(mutants)
    assert len(set(in_worker)) == 1  # one server for the worker's sessions


def test_a_worker_forgets_the_projects_modules_and_keeps_the_libraries(tmp_path, monkeypatch):
    import sys
    import types

    from tenant_harness.mutate.worker import _to_forget

    copy = tmp_path / "w1"
    files = {
        "test_x": copy / "tests" / "test_x.py",  # a test module: may read a macro when imported
        "tests.helpers": copy / "tests" / "helpers.py",
        "made_by_a_test": None,
        "in_pytests_tmp": tmp_path / "w1.tmp" / "pytest-of-x" / "m.py",
        "tenant_harness.mutate.pytest_order": tmp_path / "site-packages" / "pytest_order.py",  # one session's state
        "psycopg2.errors": tmp_path / "site-packages" / "psycopg2" / "errors.py",  # a library: stays
        "w1x.lib": tmp_path / "w1x" / "lib.py",  # beside the copy, not in it
    }
    for name, path in files.items():
        module = types.ModuleType(name)
        if path is not None:
            module.__file__ = str(path)
        monkeypatch.setitem(sys.modules, name, module)
    forgotten = ["in_pytests_tmp", "made_by_a_test", "tenant_harness.mutate.pytest_order", "test_x", "tests.helpers"]
    assert sorted(_to_forget(set(files), copy)) == forgotten
