"""A long-lived pytest process that runs mutants one after another on one copy of the project.

``python -m tenant_harness.mutate.worker <pytest args>`` runs in its copy (the working directory), with
the environment :class:`~tenant_harness.mutate.run.Workspace` gives a copy. Python, pytest, dbt and
the harness are imported once; each mutant costs a pytest session, not a process. It reads one JSON
request a line on stdin and answers one JSON line on its original stdout:

    {"file": "<path in the copy>", "text": "<the mutated file>", "plan": "<plan file>",
     "result": "<result file>", "log": "<log file>"}  ->  {"rc": <pytest's exit status>}

Per request: the file is written, ``pytest.main`` runs with the ``pytest_order`` plugin and its
output (and that of every process it starts) going to the log, then the copy is put back exactly as
the snapshot (``git checkout`` and ``git clean -dfx``: the mutated file, and anything a test wrote in
the copy), every module imported during the session is forgotten (a test module that read a macro
when imported reads the next mutant's), and the environment and working directory are restored.
The parent enforces the timeout by ending the worker's process group and starting another.

What a session costs beyond its tests is cut where the result cannot change: pytest's assertion
rewriting of a test module is kept in memory by the module's path and bytes (the same bytes give the
same code; without a bytecode cache, as under PYTHONDONTWRITEBYTECODE or in a copy that ``git clean``
empties, it was most of each session's collection), and what the worker imported before its first
session is frozen out of the garbage collector's sight (``gc.freeze``: pytest collects garbage
several times at the end of a session, each pass walking dbt's and pytest's whole heap).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path


def _reset(copy: Path) -> None:
    # .scratch: the embedded servers' folder when there is no /dev/shm (Workspace.scratch).
    for args in (["checkout", "-q", "--", "."], ["clean", "-q", "-d", "-f", "-x", "-e", ".scratch"]):
        subprocess.run(["git", "-C", str(copy), *args], check=True, capture_output=True)


def _remember_rewritten_tests() -> None:
    """Keep pytest's rewritten code of each test module by (path, bytes, the one ini option the
    rewriting reads): a module whose bytes changed is rewritten again."""
    from _pytest.assertion import rewrite

    rewrite_test = rewrite._rewrite_test
    done: dict[tuple, tuple] = {}

    def remembered(fn, config):
        key = (str(fn), fn.read_bytes(), bool(config.getini("enable_assertion_pass_hook")) if config else False)
        if key not in done:
            done[key] = rewrite_test(fn, config)
        return done[key]

    rewrite._rewrite_test = remembered


def main(args: list[str]) -> int:
    import pytest

    # What every session needs, imported once: pytest's plugins, the harness's, dbt, Hypothesis.
    from tenant_harness import plugin  # noqa: F401

    try:
        import dbt.cli.main  # noqa: F401
        import hypothesis  # noqa: F401
    except ImportError:
        pass
    _remember_rewritten_tests()
    gc.collect()
    gc.freeze()
    copy = Path.cwd()
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    option = "-p tenant_harness.mutate.pytest_order"
    os.environ["PYTEST_ADDOPTS"] = os.environ.get("PYTEST_ADDOPTS", "").replace(option, "").strip()
    environ = dict(os.environ)
    baseline = set(sys.modules)
    for line in sys.stdin:
        request = json.loads(line)
        path = copy / request["file"]
        path.write_text(request["text"])
        os.environ["TENANT_HARNESS_MUTATE_PLAN"] = request["plan"]
        os.environ["TENANT_HARNESS_MUTATE_RESULT"] = request["result"]
        saved = (os.dup(1), os.dup(2))
        with open(request["log"], "w") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                rc = int(pytest.main([*args, "-p", "tenant_harness.mutate.pytest_order"]))
            except BaseException as exc:  # a test that exits the process, or anything pytest lets through
                print(f"tenant-harness mutate worker: {type(exc).__name__}: {exc}", file=sys.stderr)
                rc = 3
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                for fd in saved:
                    os.close(fd)
        for name in set(sys.modules) - baseline:
            del sys.modules[name]
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(copy)
        _reset(copy)
        answers.write(json.dumps({"rc": rc}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
