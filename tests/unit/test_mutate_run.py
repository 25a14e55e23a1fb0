"""The mutation runner: outcome classification, the reviewed equivalents file, --changed-since, and
isolation, checked end to end on a small project: a mutant that must die dies, the no-op control
lives, the checkout is never touched, and every path a run uses points into its copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from tenant_harness.errors import HarnessError
from tenant_harness.mutate import equivalents
from tenant_harness.mutate.changes import changed_lines
from tenant_harness.mutate.command import Options, main
from tenant_harness.mutate.mutants import generate
from tenant_harness.mutate.run import Runner, Workspace, classify, command_argv
from tenant_harness.runner import DEFAULT_PROJECT_DIR

from .mutate_marks import MUTATE_TOOL_MARKS, _own_cache  # noqa: F401 (autouse)

pytestmark = MUTATE_TOOL_MARKS

ROOT = DEFAULT_PROJECT_DIR.parent


@pytest.mark.parametrize(
    ("rc", "timed_out", "status", "detail"),
    [(0, False, "survived", ""), (1, False, "killed", ""), (2, False, "error", "exit 2 (pytest: interrupted)"),
     (3, False, "error", "exit 3 (pytest: internal error)"), (4, False, "error", "exit 4 (pytest: usage error)"),
     (5, False, "error", "exit 5 (pytest: no tests collected)"), (127, False, "error", "exit 127"),
     (-9, False, "error", "killed by signal 9"), (None, True, "error", "timeout after 30 s")],
)  # fmt: skip
def test_only_exit_1_is_a_kill(rc, timed_out, status, detail):
    assert classify(rc, timed_out, 30) == (status, detail)


def test_pytest_runs_with_this_interpreter():
    assert command_argv("pytest -m local -x") == [sys.executable, "-m", "pytest", "-m", "local", "-x"]
    assert command_argv("make test") == ["make", "test"]


def test_equivalents_file(tmp_path):
    path = tmp_path / "eq.yml"
    assert equivalents.load(path) == {}
    path.write_text("equivalent:\n  - id: abc\n    reason: same rows either way\n")
    assert equivalents.load(path)["abc"].reason == "same rows either way"
    path.write_text("equivalent:\n  - id: abc\n    reason: ''\n")
    with pytest.raises(HarnessError, match=r"entry 1 \(abc\) has no reason"):
        equivalents.load(path)
    path.write_text("equivalent:\n  - {id: abc, reason: x}\n  - {id: abc, reason: y}\n")
    with pytest.raises(HarnessError, match="listed twice"):
        equivalents.load(path)


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"})  # fmt: skip


def test_changed_lines_since_a_ref(tmp_path):
    macros = tmp_path / "proj" / "macros"
    macros.mkdir(parents=True)
    (macros / "a.sql").write_text("".join(f"line {n}\n" for n in range(1, 11)))
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "base")
    text = (macros / "a.sql").read_text().replace("line 3\n", "line three\n").replace("line 8\n", "")
    (macros / "a.sql").write_text(text)
    (macros / "new.sql").write_text("x\ny\n")
    changed = changed_lines(tmp_path, "main", tmp_path / "proj")
    assert changed["proj/macros/a.sql"] == {3, 7, 8}  # the edited line; the lines around the deleted one
    assert changed["proj/macros/new.sql"] == {1, 2, 3}
    with pytest.raises(HarnessError, match="fetch-depth"):
        changed_lines(tmp_path, "no-such-ref", tmp_path / "proj")


MACRO = """{% macro at_least(x, n) %}
    {#- x >= n, as a boolean: a mutant in this comment would be equivalent, so there is none -#}
    {{ return(x >= n) }}
{% endmacro %}
"""

STRONG_TEST = """
import os
from pathlib import Path

import jinja2


class Return(Exception):
    pass


def at_least(x, n):
    def ret(value):
        raise Return(value)

    source = (Path(os.environ["TENANT_HARNESS_PROJECT_DIR"]) / "macros" / "m.sql").read_text()
    module = jinja2.Environment().from_string(source, globals={"return": ret}).module
    try:
        module.at_least(x, n)
    except Return as r:
        return r.args[0]


def test_at_least():
    assert at_least(2, 2) is True
    assert at_least(1, 2) is False
"""


def _project(tmp_path: Path, test_source: str) -> Path:
    (tmp_path / "proj" / "macros").mkdir(parents=True)
    (tmp_path / "proj" / "macros" / "m.sql").write_text(MACRO)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_m.py").write_text(textwrap.dedent(test_source))
    return tmp_path / "proj"


def _run(project: Path, tmp_path: Path, **options) -> tuple[int, dict]:
    out = tmp_path / "out.json"
    options.setdefault("test_command", "pytest -q -p no:cacheprovider test_m.py")
    with open(os.devnull, "w") as quiet:
        code = main(Options(project_dir=project, root=project.parent, json_file=out, **options), Console(file=quiet))
    return code, json.loads(out.read_text()) if out.exists() else {}


def test_a_caught_mutant_dies_and_the_checkout_is_untouched(tmp_path):
    project = _project(tmp_path, STRONG_TEST)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code, result = _run(project, tmp_path, min_score=100)
    assert (code, result["killed"], result["survived"], result["errors"]) == (0, 1, 0, 0)
    assert result["mutants"][0]["replacement"] == ">"
    assert result["mutants"][0]["detail"] == "test_m.py::test_at_least"
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name != "out.json"}
    assert after == before  # no .hypothesis, .pytest_cache or mutated macro in the checkout


def test_a_survivor_is_reported_and_fails_the_threshold(tmp_path):
    weak = STRONG_TEST.replace("    assert at_least(2, 2) is True\n", "")
    project = _project(tmp_path, weak)
    code, result = _run(project, tmp_path, min_score=100)
    assert (code, result["score"], result["survived"]) == (1, 0.0, 1)
    assert result["mutants"][0]["diff"] == "- {{ return(x >= n) }}\n+ {{ return(x > n) }}"
    # A reviewed equivalent is not run and not counted.
    mid = result["mutants"][0]["id"]
    (project / "mutants-equivalent.yml").write_text(f"equivalent:\n  - id: {mid}\n    reason: test\n")
    code, result = _run(project, tmp_path, min_score=100)
    assert (code, result["score"], result["equivalent"]) == (0, None, 1)


CHECK_ENV = """
import os, sys
from pathlib import Path

here = Path.cwd().resolve()
inside = lambda v: Path(v).resolve().is_relative_to(here)
ok = (inside(os.environ["TENANT_HARNESS_PROJECT_DIR"]) and inside(os.environ["HYPOTHESIS_STORAGE_DIRECTORY"])
      and inside(os.environ["TENANT_HARNESS_STATE_DIR"]) and Path(os.environ["TENANT_HARNESS_TMPDIR"]).is_dir()
      and inside(os.environ["PYTHONPATH"].split(os.pathsep)[0]) and here != Path({root!r}).resolve())
if not ok:
    sys.exit(3)
mutated = "x >= n" not in (Path(os.environ["TENANT_HARNESS_PROJECT_DIR"]) / "macros/m.sql").read_text().split("-#}}")[1]
if mutated and {mode!r} == "sleep":
    import time; time.sleep(60)
sys.exit({{True: {mutated_exit}, False: 0}}[mutated])
"""


@pytest.mark.parametrize(
    ("mode", "mutated_exit", "status", "detail"),
    [("exit", 1, "killed", ""), ("exit", 5, "error", "exit 5 (pytest: no tests collected)"),
     ("sleep", 0, "error", "timeout after 3 s")],
)  # fmt: skip
def test_each_run_sees_only_its_copy(tmp_path, mode, mutated_exit, status, detail):
    project = _project(tmp_path, "")
    (tmp_path / "check.py").write_text(CHECK_ENV.format(root=str(tmp_path), mode=mode, mutated_exit=mutated_exit))
    code, result = _run(project, tmp_path, test_command="python check.py", timeout=3)
    assert code == 0, "the control (unmutated copy) must pass: exit 3 means a path pointed outside the copy"
    assert (result["mutants"][0]["status"], result["mutants"][0]["detail"]) == (status, detail)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failing_control_stops_the_run(tmp_path, jobs):
    # With --jobs 2 the control is split over two processes: the one test file in one of them, the
    # other dealt nothing (pytest's exit 5, which is no failure there); the failure is the run's.
    project = _project(tmp_path, STRONG_TEST.replace("is False", "is True"))
    code, result = _run(project, tmp_path, jobs=jobs)
    assert (code, result) == (2, {})


def test_this_projects_tests_kill_a_pattern_mutant_in_an_isolated_copy(tmp_path):
    """On this repository: the copy imports its own tenant_harness, and a real macro mutant (`_`
    no longer escaped by _glob_to_like, the seed guide's bug) is killed by the unit tests."""
    mutant = next(
        m for m in generate(DEFAULT_PROJECT_DIR, [DEFAULT_PROJECT_DIR / "macros/utils/_sql_text.sql"])
        if m.operator == "list" and m.original.startswith("'_'")
    )  # fmt: skip
    workspace = Workspace(ROOT, DEFAULT_PROJECT_DIR)
    try:
        own = Runner(workspace, command_argv(
            "python -c \"import os, sys, tenant_harness.cli as c; sys.exit(0 if c.__file__.startswith(os.getcwd()) "
            "else 3)\""))  # fmt: skip
        assert own.control(None).status == "passed"
        runner = Runner(workspace, command_argv("pytest -m local -x -q tests/unit/test_macros.py"), timeout=600)
        assert runner.control(mutant.file).status == "passed"
        try:
            outcome = runner.mutant(mutant)
        finally:
            runner.close()  # its worker
    finally:
        workspace.close()
    assert outcome.status == "killed", outcome
    assert outcome.detail.startswith("tests/unit/test_macros.py::")
