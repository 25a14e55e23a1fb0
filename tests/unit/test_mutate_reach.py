"""Test selection for mutants (tenant_harness.mutate.reach): the macro a mutant is in, which test files
the control's record selects, and end to end on a small project: a mutant runs only the test files
that reached its file, the killer is among them, and a mutant nothing reaches is not run."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from tenant_harness.mutate.command import Options, main
from tenant_harness.mutate.reach import enclosing_macro, modules_for

from .mutate_marks import MUTATE_TOOL_MARKS, _own_cache  # noqa: F401 (autouse)
from .test_mutate_run import STRONG_TEST

pytestmark = MUTATE_TOOL_MARKS

MACROS = """{# a file of macros #}
{% macro first(x) -%}
    {{ return(x >= 1) }}
{%- endmacro %}
between
{%- macro second() %} select 1 {% endmacro %}
{% materialization tenant_union, adapter='postgres' %} {{ first(2) }} {% endmaterialization %}
{% materialization plain, default %} x {% endmaterialization %}
{% test not_empty(model) %} select 1 {% endtest %}
"""


def test_the_macro_a_mutant_is_in():
    at = MACROS.index
    assert enclosing_macro(MACROS, at(">=")) == "first"
    assert enclosing_macro(MACROS, at("select 1")) == "second"
    assert enclosing_macro(MACROS, at("first(2)")) == "materialization_tenant_union_postgres"
    assert enclosing_macro(MACROS, at(" x ")) == "materialization_plain_default"
    assert enclosing_macro(MACROS, MACROS.rindex("select 1")) == "test_not_empty"
    assert enclosing_macro(MACROS, at("between")) is None
    assert enclosing_macro(MACROS, 0) is None


REACH = {
    "t/test_jinja.py": ["macros/a.sql"],  # read the file itself
    "t/test_dbt.py": ["dbt", "macros/a.sql::used", "macros/b.sql::parsed"],
    "t/test_cli.py": ["*"],  # started a process
    "t/test_pure.py": [],
}


def test_which_test_files_a_mutant_selects():
    parse = ["macros/b.sql::parsed"]
    assert modules_for(REACH, parse, "macros/a.sql", "used") == ["t/test_cli.py", "t/test_dbt.py", "t/test_jinja.py"]
    assert modules_for(REACH, parse, "macros/a.sql", "unused") == ["t/test_cli.py", "t/test_jinja.py"]
    # Rendered while parsing: any module that runs dbt may be the one that parses.
    assert modules_for({**REACH, "t/test_dbt2.py": ["dbt"]}, parse, "macros/b.sql", "parsed") == [
        "t/test_cli.py", "t/test_dbt.py", "t/test_dbt2.py"]  # fmt: skip
    assert modules_for(REACH, parse, "macros/b.sql", "other") == ["t/test_cli.py"]
    # Outside every macro block, and models: every module that runs dbt.
    assert modules_for(REACH, parse, "macros/c.sql", None) == ["t/test_cli.py", "t/test_dbt.py"]
    assert modules_for(REACH, parse, "models/m.sql", None) == ["t/test_cli.py", "t/test_dbt.py"]
    # What a session-scoped fixture or a conftest reaches, every module shares: all run.
    assert modules_for({**REACH, "": ["macros/a.sql"]}, parse, "macros/a.sql", "x") is None
    assert modules_for({"t/test_pure.py": []}, parse, "macros/a.sql", "used") == []


MACRO = """{% macro at_least(x, n) %}
    {{ return(x >= n) }}
{% endmacro %}
"""
UNUSED = """{% macro never(x) %}
    {{ return(x > 0) }}
{% endmacro %}
"""
READS_THE_MACRO = STRONG_TEST  # a test that renders macros/m.sql with plain Jinja
# Reaches no macro; counts its runs in a file outside the copies.
COUNTS_ITS_RUNS = """
def test_nothing():
    with open({ran!r}, "a") as f:
        f.write("ran\\n")
"""


def _project(tmp_path: Path, **tests: str) -> Path:
    (tmp_path / "proj" / "macros").mkdir(parents=True)
    (tmp_path / "proj" / "macros" / "m.sql").write_text(MACRO)
    (tmp_path / "proj" / "macros" / "unused.sql").write_text(UNUSED)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for name, source in tests.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return tmp_path / "proj"


def _run(project: Path, tmp_path: Path, **options) -> dict:
    out = tmp_path / "out.json"
    options.setdefault("test_command", "pytest -q -p no:cacheprovider")
    with open(os.devnull, "w") as quiet:
        code = main(Options(project_dir=project, root=project.parent, json_file=out, **options), Console(file=quiet))
    assert code == 0
    return {m["file"] + ":" + m["replacement"]: m for m in json.loads(out.read_text())["mutants"]}


# Reads `never`'s file when imported, but the command deselects its only test (-m "not other").
DESELECTED = """
import os
from pathlib import Path

import pytest

SOURCE = (Path(os.environ["TENANT_HARNESS_PROJECT_DIR"]) / "macros" / "unused.sql").read_text()


@pytest.mark.other
def test_not_run():
    assert "x > 0" in SOURCE
"""


def test_a_mutant_runs_only_the_test_files_that_reach_it(tmp_path):
    ran = tmp_path / "ran"
    project = _project(
        tmp_path, test_m=READS_THE_MACRO, test_pure=COUNTS_ITS_RUNS.format(ran=str(ran)), test_other=DESELECTED
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    other: not run\n")
    mutants = _run(project, tmp_path, test_command='pytest -q -p no:cacheprovider -m "not other"')
    assert mutants["macros/m.sql:>"]["status"] == "killed"
    assert mutants["macros/m.sql:>"]["detail"] == "test_m.py::test_at_least"
    # Nothing renders `never` or reads its file: it survives without a run (no test could kill it).
    never = [m for m in mutants.values() if m["file"] == "macros/unused.sql"]
    assert never and all(m["status"] == "survived" for m in never)
    assert all(m["detail"] == "no test reaches never (control run)" for m in never)
    assert ran.read_text() == "ran\n"  # in the control only
    # --all-tests: every mutant runs every test file.
    ran.unlink()
    mutants = _run(project, tmp_path, all_tests=True, test_command='pytest -q -p no:cacheprovider -m "not other"')
    assert mutants["macros/m.sql:>"]["status"] == "killed"
    assert ran.read_text().count("ran") == 1 + len(mutants)


# Processes that are not followed. A shell may read anything, even when the last thing it does is
# exec a Python process that writes a record (which must not stand for the shell); `python -I`
# ignores PYTHONPATH, so it records nothing.
STARTS_A_PROCESS = """
import subprocess
import sys


def test_a_process():
    subprocess.run({argv}, check=True)
"""


@pytest.mark.parametrize(
    "argv",
    [["sh", "-c", "cat proj/macros/unused.sql > /dev/null; exec '{python}' -c pass"], ["{python}", "-I", "-c", "pass"]],
)
def test_a_test_file_that_starts_a_process_runs_for_every_mutant(tmp_path, argv):
    argv = [a.replace("{python}", sys.executable) for a in argv]
    project = _project(tmp_path, test_m=READS_THE_MACRO, test_proc=STARTS_A_PROCESS.format(argv=argv))
    mutants = _run(project, tmp_path)
    never = [m for m in mutants.values() if m["file"] == "macros/unused.sql"]
    # It ran (the process might read the macro), and passed: a survivor that ran its tests.
    assert never and all(m["status"] == "survived" and m["detail"] == "" and m["seconds"] > 0 for m in never)


# Copies the whole project (as test_tenant_union.py's probe project does) and reads only its own file.
COPIES_THE_PROJECT = """
import os
import shutil
from pathlib import Path


def test_copy(tmp_path):
    shutil.copytree(os.environ["TENANT_HARNESS_PROJECT_DIR"], tmp_path / "copy")
    with open({ran!r}, "a") as f:
        f.write("ran\\n")
"""
# Renders `at_least` from a copy of a copy of the project: the copy stands for the project's file.
READS_A_COPY = STRONG_TEST.replace(
    'source = (Path(os.environ["TENANT_HARNESS_PROJECT_DIR"]) / "macros" / "m.sql").read_text()',
    'source = (COPY / "macros" / "m.sql").read_text()',
).replace(
    "class Return(Exception):",
    "import shutil\nimport tempfile\n"
    "FIRST = Path(tempfile.mkdtemp()) / 'first'\n"
    "shutil.copytree(os.environ['TENANT_HARNESS_PROJECT_DIR'], FIRST)\n"
    "COPY = Path(tempfile.mkdtemp()) / 'second'\n"
    "shutil.copytree(FIRST, COPY)\n\n\n"
    "class Return(Exception):",
)


def test_copying_the_project_is_not_reading_it_but_reading_the_copy_is(tmp_path):
    ran = tmp_path / "ran"
    project = _project(tmp_path, test_copy=COPIES_THE_PROJECT.format(ran=str(ran)), test_m=READS_A_COPY)
    mutants = _run(project, tmp_path)
    # Reading the copy's m.sql reaches the project's: the test runs on the mutant, and kills it.
    assert mutants["macros/m.sql:>"]["status"] == "killed"
    assert mutants["macros/m.sql:>"]["detail"] == "test_m.py::test_at_least"
    # The copy alone reaches nothing: no mutant runs test_copy.py, and `never` is not run at all.
    assert ran.read_text() == "ran\n"  # the control only
    never = [m for m in mutants.values() if m["file"] == "macros/unused.sql"]
    assert never and all(m["detail"] == "no test reaches never (control run)" for m in never)


def test_a_macro_rendered_from_a_renamed_copy_of_the_project_counts(tmp_path):
    from types import SimpleNamespace

    from tenant_harness.mutate.reach import Recorder

    (tmp_path / "macros").mkdir()
    (tmp_path / "macros" / "m.sql").write_text(MACRO)
    recorder = Recorder(tmp_path, "proj")

    def render(package: str, path: str, name: str) -> None:
        macro = SimpleNamespace(original_file_path=path, package_name=package, name=name)
        recorder.rendered(SimpleNamespace(macro=macro, context={"execute": True}))

    render("proj", "macros/m.sql", "at_least")
    render("renamed_copy", "macros/m.sql", "at_least_too")  # a path of the project's: may be a copy of it
    render("dbt", "macros/adapters/columns.sql", "get_columns")  # dbt's own: not a project file
    assert recorder.result()["reach"] == {"": ["macros/m.sql::at_least", "macros/m.sql::at_least_too"]}


# A Python process the test starts reads the macro (as a `tenant-harness` or `dbt` process would).
CHILD_READS_THE_MACRO = """
import subprocess
import sys

READ = "import os, pathlib, sys; sys.exit('x >= n' not in (pathlib.Path(os.environ['TENANT_HARNESS_PROJECT_DIR'])"
READ += " / 'macros' / 'm.sql').read_text())"


def test_child():
    subprocess.run([sys.executable, "-c", "import subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1]],"
                    " check=True)", READ], check=True)  # a grandchild reads it
"""
# A Python process that reaches nothing of the project.
CHILD_READS_NOTHING = """
import subprocess
import sys


def test_child_nothing():
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    with open({ran!r}, "a") as f:
        f.write("ran\\n")
"""


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_python_processes_a_test_starts_are_followed(tmp_path, jobs):
    # --jobs 2: the two test files run in two control processes, each following its own children.
    ran = tmp_path / "ran"
    project = _project(tmp_path, test_child=CHILD_READS_THE_MACRO,
                       test_nothing=CHILD_READS_NOTHING.format(ran=str(ran)))  # fmt: skip
    mutants = _run(project, tmp_path, jobs=jobs)
    # The grandchild read m.sql: its test file runs on m.sql's mutants, and kills.
    assert mutants["macros/m.sql:>"]["status"] == "killed"
    assert mutants["macros/m.sql:>"]["detail"] == "test_child.py::test_child"
    # Neither process reached unused.sql: nothing runs for its mutants, nor test_nothing for any.
    never = [m for m in mutants.values() if m["file"] == "macros/unused.sql"]
    assert never and all(m["detail"] == "no test reaches never (control run)" for m in never)
    assert ran.read_text() == "ran\n"


def test_test_files_are_dealt_out_by_cost_each_to_one_process():
    from tenant_harness.mutate.pytest_order import deal

    assert deal({"a": 5, "b": 3, "c": 2, "d": 1}, 2) == [["a", "d"], ["b", "c"]]
    assert deal({"a": 1, "b": 1}, 3) == [["a"], ["b"], []]
    assert deal({"a": 1}, 1) == [["a"]]


def test_merging_the_control_processes_keeps_every_files_reach():
    from tenant_harness.mutate.run import merge_controls

    one = {"shard": [0, 2], "modules": ["t/a.py", "t/b.py"], "ran": ["t/a.py"], "durations": {"t/a.py::x": 1.0},
           "reach": {"": ["macros/s.sql"], "t/a.py": ["macros/a.sql"], "t/b.py": ["macros/imported.sql"]},
           "parse": ["macros/p.sql::p"], "spawned": {}}  # fmt: skip
    two = {"shard": [1, 2], "modules": ["t/a.py", "t/b.py"], "ran": ["t/b.py"], "durations": {"t/b.py::y": 2.0},
           "reach": {"": ["macros/t.sql"], "t/b.py": ["dbt"]}, "parse": [], "spawned": {"t/b.py": ["sh"]}}  # fmt: skip
    merged = merge_controls([one, two])
    assert merged["reach"] == {"": ["macros/s.sql", "macros/t.sql"], "t/a.py": ["macros/a.sql"],
                               "t/b.py": ["dbt", "macros/imported.sql"]}  # fmt: skip
    assert (merged["modules"], merged["unrun"], merged["parse"]) == (["t/a.py", "t/b.py"], [], ["macros/p.sql::p"])
    assert merged["durations"] == {"t/a.py::x": 1.0, "t/b.py::y": 2.0} and merged["spawned"] == {"t/b.py": ["sh"]}
    # A file both collected and neither ran (their collections differed) was checked by no one.
    assert merge_controls([{**one, "ran": []}, two])["unrun"] == ["t/a.py"]


# A control split over two processes: test_fixture.py (the largest file, so dealt to a process of its
# own) uses a session-scoped fixture of the conftest that renders shared.sql; test_m.py renders m.sql;
# test_pure.py reaches nothing. Each notes where (which copy) and in which process it ran.
SPLIT_CONFTEST = """
import os
from pathlib import Path

import jinja2
import pytest


class Return(Exception):
    pass


def _render(name, macro, *args):
    def ret(value):
        raise Return(value)

    source = (Path(os.environ["TENANT_HARNESS_PROJECT_DIR"]) / "macros" / name).read_text()
    module = jinja2.Environment().from_string(source, globals={{"return": ret}}).module
    try:
        getattr(module, macro)(*args)
    except Return as r:
        return r.args[0]


@pytest.fixture
def render():
    return _render


@pytest.fixture(scope="session")
def at_most():
    return _render("shared.sql", "at_most", 2, 2), _render("shared.sql", "at_most", 3, 2)


@pytest.fixture
def note(request):
    with open({ran!r}, "a") as f:
        f.write(f"{{request.node.path.name}} {{Path.cwd().name}} {{os.getpid()}}\\n")
"""
SPLIT_TESTS = {
    "test_fixture": "def test_shared(at_most, note):\n    assert at_most == (True, False)\n" + "# padding\n" * 400,
    "test_m": "def test_m(render, note):\n    assert render('m.sql', 'at_least', 2, 2) is True\n"
    "    assert render('m.sql', 'at_least', 1, 2) is False\n",
    "test_pure": "def test_pure(note):\n    pass\n",
}
SHARED = """{% macro at_most(x, n) %}
    {{ return(x <= n) }}
{% endmacro %}
"""


def test_a_control_split_over_processes_keeps_what_each_reached(tmp_path):
    ran = tmp_path / "ran"
    project = _project(tmp_path, **SPLIT_TESTS)
    (tmp_path / "conftest.py").write_text(SPLIT_CONFTEST.format(ran=str(ran)))
    (project / "macros" / "shared.sql").write_text(SHARED)
    mutants = _run(project, tmp_path, jobs=2)
    runs = [line.split() for line in ran.read_text().splitlines()]
    control = {test: (copy, pid) for test, copy, pid in runs if copy.startswith("control")}
    # Two processes on two copies: test_fixture.py in one, the two small files in the other.
    assert set(control) == {"test_fixture.py", "test_m.py", "test_pure.py"}
    assert control["test_m.py"] == control["test_pure.py"] != control["test_fixture.py"]
    assert control["test_m.py"][0] != control["test_fixture.py"][0]
    # Each file's reach, recorded in either process, selects it: each mutant dies by its own test.
    assert mutants["macros/m.sql:>"]["detail"] == "test_m.py::test_m"
    shared = [m for m in mutants.values() if m["file"] == "macros/shared.sql"]
    assert shared and all(m["status"] == "killed" and m["detail"] == "test_fixture.py::test_shared" for m in shared)
    # The session fixture's reach, recorded in test_fixture.py's process, counts for every file: the
    # other process's test_pure.py ran for each of shared.sql's mutants (and for no other).
    assert sum(test == "test_pure.py" and not copy.startswith("control") for test, copy, _ in runs) == len(shared)
    never = [m for m in mutants.values() if m["file"] == "macros/unused.sql"]
    assert never and all(m["detail"] == "no test reaches never (control run)" for m in never)


def test_a_control_process_that_fails_stops_the_others(tmp_path):
    done = tmp_path / "done"
    slow = f"import time\n\n\ndef test_slow():\n    time.sleep(60)\n    open({str(done)!r}, 'w').close()\n"
    project = _project(tmp_path, test_slow=slow + "# padding\n" * 400, test_fails="def test_fails():\n    assert 0\n")
    with open(os.devnull, "w") as quiet:
        code = main(Options(project_dir=project, root=project.parent, jobs=2, test_command="pytest -q"),
                    Console(file=quiet))  # fmt: skip
    assert code == 2
    assert not done.exists()  # the other process was stopped before its test ended
