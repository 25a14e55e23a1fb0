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
                     :data:`SAFE_PROGRAMS`) and that process was not followed: the module reaches
                     everything

**Processes are followed** when they are Python: in the control run every Python process a test
starts (``tenant-harness``, ``dbt``, ``python -m pytest``, ``python -c``) records what it reaches the
same way, through a ``sitecustomize`` on ``PYTHONPATH`` (:func:`child_sitecustomize`), into a file
of its own (:data:`CHILD_DIR`), tagged with the token of the process that started it and the test
module that was running; its own children likewise. A start counts as followed only when the
environment it passes carries those variables unchanged, and only when the record of every process
in its tree is there at the end of the session (a process that was killed, that ``exec``-ed, ran with
``python -I``/``-E``/``-S``, or is not Python writes none): otherwise the module reaches everything,
as before. A followed process's reach is its module's.

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

import atexit
import json
import os
import re
import shutil
import sys
import threading
import uuid
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
# Set in the control's test process for the Python processes it starts (see the module docstring).
CHILD_DIR = "TENANT_HARNESS_MUTATE_REACH_DIR"  # where each followed process writes its record
CHILD_PROJECT = "TENANT_HARNESS_MUTATE_REACH_PROJECT"  # the project dir the records are relative to
CHILD_PARENT = "TENANT_HARNESS_MUTATE_REACH_PARENT"  # the token of the process that started this one
CHILD_MODULE = "TENANT_HARNESS_MUTATE_REACH_MODULE"  # the test module running when it was started
_SPAWN_EVENTS = {"subprocess.Popen": 3, "os.posix_spawn": 2, "os.exec": 2, "os.spawn": 3}  # event -> env arg


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

    def __init__(self, project_dir: Path, package: str | None, *, token: str | None = None):
        self.project_dir = project_dir.resolve()
        self.prefix = str(self.project_dir) + os.sep
        self.package = package
        self.module = GLOBAL
        self.reach: dict[str, set[str]] = {}
        self.parse: set[str] = set()
        self.spawned: dict[str, set[str]] = {}  # module -> programs started that made it reach everything
        self.copies: dict[str, str] = {}  # a copy's absolute path -> the project file it copies
        self.token = token or uuid.uuid4().hex
        self.children: dict[str, int] = {}  # module -> processes started that will write a record
        self.programs: dict[str, set[str]] = {}  # module -> the programs of those processes
        self.origins: dict[str, str] = {}  # a copied .sql file outside the project -> the file it copies
        self.opened: set[str] = set()  # .sql files outside the project opened (as their origins)
        self.started_by, self.started_in = "", GLOBAL  # a followed process: its parent's token and module
        self._exists: dict[str, bool] = {}
        self._in_dbt = 0
        self._lock = threading.Lock()

    def add(self, key: str) -> None:
        with self._lock:
            self.reach.setdefault(self.module, set()).add(key)

    def install(self, *, lazily: bool = False) -> None:
        """Hook into audit events, and into dbt (``lazily``: when something imports it)."""
        sys.addaudithook(self._audit)
        if lazily and "dbt.cli.main" not in sys.modules:
            sys.meta_path.insert(0, _AfterImport("dbt.cli.main", self._hook_dbt))
            return
        self._hook_dbt()

    def _hook_dbt(self) -> None:
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
            path = os.path.abspath(os.fsdecode(args[0]))
            rel = self._project_file(path)
            if rel is None:
                if path.endswith(".sql") and not self._copying():
                    # Maybe a copy the process that started this one made: it maps it (merge).
                    with self._lock:
                        self.opened.add(self.origins.get(path, path))
                return
            if not self._copying():
                self.add(rel)
        elif event == "shutil.copyfile":  # in dbt too: `dbt deps` copying the project as a package
            src = os.path.abspath(os.fsdecode(args[0]))
            dest = os.path.abspath(os.fsdecode(args[1]))
            rel = self._project_file(src)
            with self._lock:
                if rel is not None:
                    self.copies[dest] = rel
                elif src.endswith(".sql"):
                    self.origins[dest] = self.origins.get(src, src)
        elif event in _SPAWN_EVENTS or event == "os.system":
            if event == "os.posix_spawn" and sys._getframe(1).f_globals.get("__name__") == "subprocess":
                return  # subprocess.Popen's own way to start: its event was the one that counts
            program = args[1] if event == "os.spawn" else args[0]
            if event == "subprocess.Popen" and not program:
                argv = args[1]
                program = argv if isinstance(argv, (str, bytes)) else (argv[0] if argv else "")
            name = os.path.basename(os.fsdecode(program)).split()[0] if program else "?"
            if event != "os.system" and name in SAFE_PROGRAMS:
                return
            env = args[_SPAWN_EVENTS[event]] if event in ("subprocess.Popen", "os.posix_spawn", "os.spawn") else None
            env = os.environ if env is None else env
            followed = (event in ("subprocess.Popen", "os.posix_spawn", "os.spawn") and self._follows(env)
                        and _is_python(program, env))  # fmt: skip
            with self._lock:
                if followed:
                    # Followed: its record (and its children's) decides; see result().
                    self.children[self.module] = self.children.get(self.module, 0) + 1
                    self.programs.setdefault(self.module, set()).add(name)
                    return
                self.reach.setdefault(self.module, set()).add(EVERYTHING)
                self.spawned.setdefault(self.module, set()).add(name if event != "os.system" else "os.system")

    def _copying(self) -> bool:
        """Whether the open being audited is shutil.copyfile's: a copy, not a read (the copy was
        recorded at the shutil.copyfile event, and reaches the file when it is read)."""
        frame = sys._getframe(2)
        for _ in range(3):
            if frame is None:
                return False
            if frame.f_code is _COPYFILE:
                return True
            frame = frame.f_back
        return False

    def _follows(self, env) -> bool:
        """Whether a process started with ``env`` will record its reach for this one's module."""
        try:
            get = env.get
            return (get(CHILD_PARENT) == self.token and get(CHILD_MODULE) == self.module
                    and bool(get(CHILD_DIR)) and get(CHILD_PROJECT) == str(self.project_dir))  # fmt: skip
        except Exception:  # an env of another shape (bytes keys, a list): not followed
            return False

    def follow_children(self, directory: Path, site: Path) -> None:
        """Make the Python processes this one starts record their reach (module docstring): the
        variables, and ``site`` (holding :func:`child_sitecustomize`) first on PYTHONPATH."""
        directory.mkdir(parents=True, exist_ok=True)
        site.mkdir(parents=True, exist_ok=True)
        (site / "sitecustomize.py").write_text(child_sitecustomize())
        os.environ[CHILD_DIR] = str(directory)
        os.environ[CHILD_PROJECT] = str(self.project_dir)
        os.environ[CHILD_PARENT] = self.token
        os.environ[CHILD_MODULE] = self.module
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))

    def record(self) -> dict:
        """What a followed process writes: its own reach (every module's, as one), its copies'
        origins and the files outside the project it opened, and how many processes it started
        that will write a record of their own."""
        with self._lock:
            keys = set().union(*self.reach.values()) if self.reach else set()
            return {"token": self.token, "parent": self.started_by, "module": self.started_in, "keys": sorted(keys),
                    "parse": sorted(self.parse), "opened": sorted(self.opened),
                    "children": sum(self.children.values())}  # fmt: skip

    def result(self, children: Path | None = None) -> dict:
        """JSON-ready: {"reach": {module: [keys]}, "parse": [keys], "spawned": {module: [programs]}},
        with the records of the followed processes in ``children`` merged in."""
        records: dict[str, list[dict]] = {}
        for path in sorted(children.glob("*.json")) if children and children.is_dir() else ():
            try:
                record = json.loads(path.read_text())
                records.setdefault(record["parent"], []).append(record)
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a record cut short: its process's start is not followed (below)
        with self._lock:
            reach = {m: set(k) for m, k in self.reach.items()}
            parse = set(self.parse)
            spawned = {m: set(p) for m, p in self.spawned.items()}
            for module, count in self.children.items():
                mine = [r for r in records.get(self.token, ()) if r.get("module") == module]
                keys = self._tree(records, mine, count, parse)
                if keys is None:
                    keys = {EVERYTHING}
                    spawned.setdefault(module, set()).update(self.programs.get(module, ()))
                reach.setdefault(module, set()).update(keys)
            return {
                "reach": {m: sorted(k) for m, k in sorted(reach.items())},
                "parse": sorted(parse),
                "spawned": {m: sorted(p) for m, p in sorted(spawned.items())},
            }

    def _tree(self, records: dict, mine: list[dict], count: int, parse: set[str]) -> set[str] | None:
        """The keys the followed processes ``mine`` (and theirs) reached; None when fewer than
        ``count`` records are there, at any level."""
        if len(mine) < count:
            return None
        keys: set[str] = set()
        for record in mine:
            below = self._tree(records, records.get(record["token"], []), int(record.get("children", 0)), parse)
            if below is None:
                return None
            keys |= below | set(record.get("keys", ()))
            parse.update(record.get("parse", ()))
            for path in record.get("opened", ()):
                rel = self._project_file(path)
                if rel is not None:
                    keys.add(rel)
        return keys


def _is_python(program, env) -> bool:
    """Whether ``program`` is a Python interpreter or a Python script (a ``#!...python`` line): only
    those write a record. A shell that ran a Python process would pass that process's record off as
    its own, hiding what else it ran."""
    try:
        name = os.fsdecode(program)
        path = name if os.sep in name else shutil.which(name, path=env.get("PATH", os.defpath))
        if not path:
            return False
        if os.path.basename(os.path.realpath(path)).startswith("python"):
            return True
        with open(path, "rb") as f:
            first = f.readline(256)
        return first.startswith(b"#!") and b"python" in first
    except Exception:  # unreadable, odd env: not followed (the module reaches everything)
        return False


class _AfterImport:
    """A meta path finder that runs ``then`` once ``name`` has been imported (and is then inert)."""

    def __init__(self, name: str, then):
        self.name, self.then, self.done = name, then, False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name or self.done:
            return None
        self.done = True
        import importlib.util

        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return None
        loader, then = spec.loader, self.then

        class _Loader:
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                then()

        spec.loader = _Loader()
        return spec


def record_child() -> None:
    """In a Python process started by a test of the control run (CHILD_* variables set, by
    :func:`child_sitecustomize`): record what it reaches, and write it when it exits."""
    directory, project = os.environ.get(CHILD_DIR), os.environ.get(CHILD_PROJECT)
    if not directory or not project or os.environ.get("TENANT_HARNESS_MUTATE_PLAN"):
        return  # not started by a recording session, or the session's own process
    recorder = Recorder(Path(project), project_package(Path(project)))
    recorder.started_by = os.environ.get(CHILD_PARENT, "")
    recorder.started_in = os.environ.get(CHILD_MODULE, GLOBAL)
    os.environ[CHILD_PARENT] = recorder.token
    os.environ[CHILD_MODULE] = GLOBAL  # a followed process has one module: its own
    recorder.install(lazily=True)

    def write() -> None:
        out = Path(directory) / f"{recorder.token}.json"
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(recorder.record()))
        tmp.replace(out)  # whole or not at all

    atexit.register(write)


def child_sitecustomize() -> str:
    """The ``sitecustomize.py`` that makes a Python process record its reach (:func:`record_child`),
    loading this file by its path (the process may be in another virtualenv), then the
    ``sitecustomize`` it would have imported otherwise."""
    return f"""import importlib.util as _u, os as _os, sys as _sys
try:
    _spec = _u.spec_from_file_location("_tenant_harness_mutate_reach", {os.path.abspath(__file__)!r})
    _m = _u.module_from_spec(_spec)
    _spec.loader.exec_module(_m)
    _m.record_child()
except Exception:
    pass  # then this process writes no record: its start is not followed
_here = _os.path.dirname(_os.path.abspath(__file__))
_at = [i for i, p in enumerate(_sys.path) if p and _os.path.abspath(p) == _here]
for _i in reversed(_at):
    del _sys.path[_i]
del _sys.modules["sitecustomize"]
try:
    import sitecustomize  # noqa: F401  (the one this process would have imported)
except ImportError:
    pass
finally:
    for _i in _at:
        _sys.path.insert(_i, _here)
"""


def project_package(project_dir: Path) -> str | None:
    """The ``name:`` of the dbt project in ``project_dir`` (dbt's package name for its macros)."""
    try:
        import yaml

        data = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
    except (OSError, ValueError, ImportError):
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None
