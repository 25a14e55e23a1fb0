"""Which test files can reach a mutant: recorded in the control run, used to select each mutant's tests.

The control run records, per test file (module), what its tests, its module-scoped fixtures and its
import reached of the dbt project:

``<file>::<macro>``  a macro dbt rendered (any dbt command run in the test process: run, compile,
                     run-operation, parse), by its file under the project dir and its name in dbt
``<file>``           a project file the test process opened itself, outside dbt (a test that renders
                     macros with plain Jinja, a linter, a test that reads the text): the whole file.
                     Copying a file (``shutil.copyfile``, so ``copy``, ``copy2``, ``copytree``) is not
                     reading it: the copy stands for its original, so opening the copy (or a copy of
                     the copy) outside dbt reaches the original, and dbt rendering the copy's macros
                     is recorded as above (by their path in the copied project, whatever its name)
``dbt``              the module ran dbt in its own process: it also reaches every model file, and every
                     macro dbt rendered while parsing (``execute`` false) in any test, because which
                     test pays for a parse depends on partial parsing and on the order tests run in
``*``                the module started a process that may read the project (anything but
                     :data:`SAFE_PROGRAMS`: ``tenant-harness``, ``dbt``, ``python``, a shell): what
                     that process reaches is unknown, so the module reaches everything

Session- and package-scoped fixtures, conftest files and anything outside a module's collection and
its tests record under the empty module name, which every module shares.

A mutant's tests are the modules whose record covers its file and the macro its edit is inside
(:func:`enclosing_macro`); a module the control did not record (or any module, when the control
recorded nothing: another test command) runs too. A mutant no module reaches is not run: no test
renders its macro, reads its file or starts a process that could, so no test can kill it.

What this cannot see, so what a selected run may miss (documented in docs/mutate.md): a test whose
random inputs (Hypothesis) reach a macro in the mutant's run but did not in the control's, and state a
module leaves behind for another one (a session-scoped database a later module reads).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

GLOBAL = ""  # the module name of what is shared by every module
EVERYTHING = "*"
DBT = "dbt"
# Programs a test may start that cannot read the dbt project: the PostgreSQL server's binaries, git,
# and what Python's platform and ctypes.util start to learn about the machine (uname, ldconfig, ...).
SAFE_PROGRAMS = frozenset(
    {"initdb", "postgres", "pg_ctl", "pg_isready", "pg_controldata", "psql", "pg_dump", "createdb", "git",
     "uname", "ldconfig", "ldconfig.real", "gcc", "cc", "ld", "objdump"}
)  # fmt: skip
_BLOCK = re.compile(
    r"\{%-?\s*(?:(?P<end>end(?:macro|materialization|test))\b"
    r"|(?P<kind>macro|materialization|test)\s+(?P<name>\w+)(?P<rest>[^%]*))"
)
_ADAPTER = re.compile(r"""(?:adapter\s*=\s*)?['"]?(\w+)['"]?""")
_COPYFILE = shutil.copyfile.__code__


def enclosing_macro(source: str, offset: int) -> str | None:
    """The dbt name of the macro (``{% macro x %}``: ``x``; ``{% materialization m, adapter='a' %}``:
    ``materialization_m_a``; ``{% test t %}``: ``test_t``) whose block holds ``offset``, or None
    outside every block."""
    current = None
    for match in _BLOCK.finditer(source):
        if match.start() > offset:
            break
        if match.group("end"):
            current = None
            continue
        kind, name = match.group("kind"), match.group("name")
        if kind == "macro":
            current = name
        elif kind == "test":
            current = f"test_{name}"
        else:
            rest = match.group("rest").strip().lstrip(",").strip()
            adapter = _ADAPTER.match(rest).group(1) if rest and _ADAPTER.match(rest) else "default"
            current = f"materialization_{name}_{adapter or 'default'}"
    return current


def modules_for(
    reach: Mapping[str, Iterable[str]], parse: Iterable[str], file: str, macro: str | None
) -> list[str] | None:
    """The test modules (paths as pytest names them) to run for a mutant in ``file`` (relative to the
    project dir) inside ``macro`` (None: outside every macro block), from the control's ``reach``
    (module -> keys) and ``parse`` (keys of macros rendered while parsing). None means all modules:
    something every module shares reaches the mutant."""
    exact = {file, f"{file}::{macro}"} if macro else {file}
    parsed = set(parse)
    is_model = file.startswith("models/")

    def covers(keys: set[str]) -> bool:
        if EVERYTHING in keys or keys & exact:
            return True
        if macro is None and any(k.startswith(file + "::") for k in keys):
            return True  # outside every block: whichever module rendered any macro of the file
        # A dbt run renders the models, and which test pays for a parse is an accident of order.
        return DBT in keys and (is_model or macro is None or bool(exact & parsed))

    shared = set(reach.get(GLOBAL, ()))
    if covers(shared):
        return None
    return sorted(m for m, keys in reach.items() if m != GLOBAL and covers(set(keys) | shared))


class Recorder:
    """Records what each module of a test session reaches (see the module docstring). One per
    process, for the control run only: :meth:`install` hooks into Python's audit events (file opens,
    process starts) and into dbt's macro calls, neither of which can be undone, so the process must
    not outlive the session."""

    def __init__(self, project_dir: Path, package: str | None):
        self.project_dir = project_dir.resolve()
        self.prefix = str(self.project_dir) + os.sep
        self.package = package
        self.module = GLOBAL
        self.reach: dict[str, set[str]] = {}
        self.parse: set[str] = set()
        self.spawned: dict[str, set[str]] = {}  # module -> programs started that made it reach everything
        self.copies: dict[str, str] = {}  # a copy's absolute path -> the project file it copies
        self._exists: dict[str, bool] = {}
        self._in_dbt = 0
        self._lock = threading.Lock()

    def add(self, key: str) -> None:
        with self._lock:
            self.reach.setdefault(self.module, set()).add(key)

    def install(self) -> None:
        sys.addaudithook(self._audit)
        try:
            from dbt.cli.main import dbtRunner
            from dbt_common.clients.jinja import BaseMacroGenerator
        except ImportError:  # no dbt in this environment: only opens and processes are recorded
            return
        recorder = self
        call_macro = BaseMacroGenerator.call_macro
        invoke = dbtRunner.invoke

        def recording_call_macro(generator, *args, **kwargs):
            recorder.rendered(generator)
            return call_macro(generator, *args, **kwargs)

        def recording_invoke(runner, *args, **kwargs):
            recorder.add(DBT)
            recorder._in_dbt += 1
            try:
                return invoke(runner, *args, **kwargs)
            finally:
                recorder._in_dbt -= 1

        BaseMacroGenerator.call_macro = recording_call_macro
        dbtRunner.invoke = recording_invoke

    def rendered(self, generator) -> None:
        macro = getattr(generator, "macro", None)
        path = getattr(macro, "original_file_path", None)
        if not path:
            return
        path = Path(path).as_posix()
        if getattr(macro, "package_name", None) != self.package and not self._is_project_file(path):
            # Another package's macro; one at a path of this project's may be a copy of the project
            # under another name: it counts (a macro of an unrelated package at the same path only
            # costs a test file that need not run).
            return
        key = f"{path}::{macro.name}"
        context = generator.context or {}
        if not context.get("execute", True):
            with self._lock:
                self.parse.add(key)
        self.add(key)

    def _is_project_file(self, rel: str) -> bool:
        if rel not in self._exists:
            self._exists[rel] = (self.project_dir / rel).is_file()
        return self._exists[rel]

    def _project_file(self, path: str) -> str | None:
        """The project file (relative path) ``path`` is, or is a copy of; None for any other file."""
        if path.startswith(self.prefix):
            rel = path[len(self.prefix) :].replace(os.sep, "/")
            return rel if rel.endswith(".sql") and rel.startswith(("macros/", "models/")) else None
        return self.copies.get(path)

    def _audit(self, event: str, args: tuple) -> None:
        if event == "open":
            if self._in_dbt or isinstance(args[0], int):
                return  # dbt reads every file when it parses: what it renders is recorded instead
            rel = self._project_file(os.path.abspath(os.fsdecode(args[0])))
            if rel is None:
                return
            # shutil.copyfile opening its source and its destination: a copy, not a read (the copy
            # was recorded at the shutil.copyfile event, and reaches the file when it is read).
            frame = sys._getframe(1)
            for _ in range(3):
                if frame is None:
                    break
                if frame.f_code is _COPYFILE:
                    return
                frame = frame.f_back
            self.add(rel)
        elif event == "shutil.copyfile":  # in dbt too: `dbt deps` copying the project as a package
            rel = self._project_file(os.path.abspath(os.fsdecode(args[0])))
            if rel is not None:
                dest = os.path.abspath(os.fsdecode(args[1]))
                with self._lock:
                    self.copies[dest] = rel
        elif event in ("subprocess.Popen", "os.posix_spawn", "os.exec", "os.spawn", "os.system"):
            program = args[1] if event == "os.spawn" else args[0]
            if event == "subprocess.Popen" and not program:
                argv = args[1]
                program = argv if isinstance(argv, (str, bytes)) else (argv[0] if argv else "")
            name = os.path.basename(os.fsdecode(program)).split()[0] if program else "?"
            if event == "os.system" or name not in SAFE_PROGRAMS:
                self.add(EVERYTHING)
                with self._lock:
                    self.spawned.setdefault(self.module, set()).add(name if event != "os.system" else "os.system")

    def result(self) -> dict:
        """JSON-ready: {"reach": {module: [keys]}, "parse": [keys], "spawned": {module: [programs]}}."""
        with self._lock:
            return {
                "reach": {m: sorted(k) for m, k in sorted(self.reach.items())},
                "parse": sorted(self.parse),
                "spawned": {m: sorted(p) for m, p in sorted(self.spawned.items())},
            }


def project_package(project_dir: Path) -> str | None:
    """The ``name:`` of the dbt project in ``project_dir`` (dbt's package name for its macros)."""
    try:
        import yaml

        data = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
    except (OSError, ValueError, ImportError):
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None
