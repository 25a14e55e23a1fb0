"""Runs the project's test command on each mutant, each on its own copy of the project, in parallel.

Isolation: the project's files (git's tracked and untracked-but-not-ignored files, else everything
but virtualenvs, caches and dbt's target/) are copied once into a snapshot; every run gets a copy
of it, with the mutant applied, and runs with its working directory, PYTHONPATH,
TENANT_HARNESS_PROJECT_DIR, TENANT_HARNESS_STATE_DIR, Hypothesis' storage and TMPDIR (pytest's basetemp)
at that copy, and TENANT_HARNESS_TMPDIR (embedded servers) in a folder of its own. Edits in the
checkout during a run cannot reach it, and nothing it writes reaches the checkout. The snapshot is
committed to a git repository of its own, for tests that ask git and for the workers: a pytest
command runs in ``--jobs`` long-lived workers (worker.py), each on a copy of its own that it puts back
to that commit after every mutant; any other command (or ``persistent=False``) starts afresh on a
fresh copy per mutant.

The control (the unmutated copy with a no-op comment added to a mutated file) runs first and must
pass: a score measured on a failing suite means nothing. It also records how long each test takes,
so every mutant's run starts with the cheapest test files (and with the tests that killed other
mutants of the same file), and what each test file reaches of the dbt project, so each mutant runs
only the test files that can reach it (reach.py).

Outcome of a run: exit 0 survived, exit 1 killed; a timeout or any other exit (pytest: 2 interrupted,
3 internal error, 4 usage error, 5 no tests collected) is an error, never a kill.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import HarnessError
from . import reach
from .equivalents import Equivalent
from .mutants import Mutant

DEFAULT_TEST_COMMAND = "pytest -m local -x"
PYTEST_EXIT = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests collected"}
WORKER_DIED = -1000  # a returncode of its own: the long-lived worker ended without an answer
NO_OP = "\n{# tenant-harness mutate: control, no-op #}\n"
_IGNORED = (".git", ".venv", "venv", ".tox", "__pycache__", ".pytest_cache", ".hypothesis", "target", "logs",
            "dbt_packages", ".tenant-harness", "node_modules", "*.egg-info")  # fmt: skip


class ControlFailed(HarnessError):
    """The unmutated copy did not pass the test command."""


@dataclass
class Outcome:
    """What became of one mutant (or of the control, ``mutant`` None)."""

    mutant: Mutant | None
    status: str  # killed | survived | error | equivalent | passed (control)
    seconds: float = 0.0
    detail: str = ""  # the first failing test, the error, or the equivalence reason
    returncode: int | None = None
    log: str = ""  # the log's tail, for errors and a failed control


def classify(returncode: int | None, timed_out: bool, timeout: float | None = None) -> tuple[str, str]:
    """(status, detail) for a run's exit: 0 survived, 1 killed, everything else an error."""
    if timed_out:
        return "error", f"timeout after {timeout:.0f} s" if timeout else "timeout"
    if returncode == 0:
        return "survived", ""
    if returncode == 1:
        return "killed", ""
    if returncode == WORKER_DIED:
        return "error", "the mutation worker died"
    if returncode is not None and returncode < 0:
        return "error", f"killed by signal {-returncode}"
    meaning = PYTEST_EXIT.get(returncode or 0)
    return "error", f"exit {returncode}" + (f" (pytest: {meaning})" if meaning else "")


def command_argv(text: str) -> list[str]:
    """The command as argv; a leading ``pytest`` runs as ``<this python> -m pytest``, so the same
    interpreter (and virtualenv) runs the tests."""
    argv = shlex.split(text)
    if not argv:
        raise HarnessError("--test-command is empty")
    if argv[0] == "pytest":
        argv = [sys.executable, "-m", "pytest", *argv[1:]]
    elif argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    return argv


def project_root(project_dir: Path) -> Path:
    """The top of the git work tree holding the dbt project, else the current directory."""
    try:
        out = subprocess.run(
            ["git", "-C", str(project_dir), "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
        )
        return Path(out.stdout.strip()).resolve()
    except (OSError, subprocess.CalledProcessError):
        return Path.cwd().resolve()


class Workspace:
    """A temporary folder with one snapshot of the project root and a fresh copy per run."""

    def __init__(self, root: Path, project_dir: Path, *, keep: bool = False):
        self.root = root.resolve()
        self.project_rel = project_dir.resolve().relative_to(self.root)
        self.keep = keep
        self.dir = Path(tempfile.mkdtemp(prefix="tenant-mutate-"))
        self.snapshot = self.dir / "snapshot"
        self._copy_root()

    def _copy_root(self) -> None:
        files = _git_files(self.root)
        if files is None:
            shutil.copytree(self.root, self.snapshot, symlinks=True, ignore=shutil.ignore_patterns(*_IGNORED))
        for rel in files or ():
            src = self.root / rel
            if not src.is_file() and not src.is_symlink():
                continue  # deleted in the work tree
            dest = self.snapshot / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest, follow_symlinks=False)
        # Tests may ask git about the project (which files it tracks): the snapshot is a repository of
        # its own, with everything committed, so the mutant shows as the one modified file. A worker
        # puts its copy back to this commit after each mutant (worker.py).
        git = ["git", "-C", str(self.snapshot), "-c", "user.name=tenant-harness", "-c", "user.email=mutate@localhost"]
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "--no-verify", "-m", "mutate snapshot"]):
            subprocess.run([*git, *args], check=True, capture_output=True)

    def copy(self, name: str) -> Path:
        dest = self.dir / name
        shutil.copytree(self.snapshot, dest, symlinks=True)
        self.scratch(dest).mkdir(parents=True)
        self.tmp(dest).mkdir()
        return dest

    def tmp(self, copy: Path) -> Path:
        return copy.with_name(copy.name + ".tmp")

    def scratch(self, copy: Path) -> Path:
        """The run's own folder for embedded servers (TENANT_HARNESS_TMPDIR): in RAM where the
        harness would use it, so runs in parallel never see each other's server folders."""
        base = os.environ.get("TENANT_HARNESS_TMPDIR")
        if not base and Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
            base = "/dev/shm"
        return Path(base) / f"{self.dir.name}-{copy.name}" if base else copy / ".scratch"

    def project(self, copy: Path) -> Path:
        return copy / self.project_rel

    def env(self, copy: Path, plan: Path, result: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "PYTHONPATH": os.pathsep.join([str(copy), *filter(None, [os.environ.get("PYTHONPATH")])]),
                "TENANT_HARNESS_PROJECT_DIR": str(self.project(copy)),
                "TENANT_HARNESS_STATE_DIR": str(copy / ".tenant-harness"),
                "TENANT_HARNESS_TMPDIR": str(self.scratch(copy)),
                # A mutant's failing examples must not be replayed into the checkout's database.
                "HYPOTHESIS_STORAGE_DIRECTORY": str(copy / ".hypothesis"),
                # pytest's basetemp and every other temporary file of the run (a --basetemp option
                # would be inherited by pytest runs that the tests start themselves).
                "TMPDIR": str(self.tmp(copy)),
                "PYTEST_ADDOPTS": " ".join(
                    filter(None, [os.environ.get("PYTEST_ADDOPTS"), "-p tenant_harness.mutate.pytest_order"])
                ),
                "TENANT_HARNESS_MUTATE_PLAN": str(plan),
                # Stays set in what the tests start (the plan and result variables do not): the mutation
                # tool's own tests skip themselves inside a mutation run.
                "TENANT_HARNESS_MUTATE_RUN": "1",
                "TENANT_HARNESS_MUTATE_RESULT": str(result),
            }
        )
        return env

    def remove(self, copy: Path) -> None:
        shutil.rmtree(self.scratch(copy), ignore_errors=True)  # server folders: never kept
        if not self.keep:
            shutil.rmtree(copy, ignore_errors=True)
            shutil.rmtree(self.tmp(copy), ignore_errors=True)
            for suffix in (".plan.json", ".result.json", ".log"):
                copy.with_name(copy.name + suffix).unlink(missing_ok=True)

    def close(self) -> None:
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def _git_files(root: Path) -> list[str] | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return sorted({f for f in out.stdout.decode().split("\0") if f})


@dataclass
class Runner:
    """Runs ``argv`` on copies of ``workspace``; see the module docstring."""

    workspace: Workspace
    argv: Sequence[str]
    timeout: float | None = None
    select_tests: bool = True
    persistent: bool = True  # a pytest command runs mutants in long-lived workers (worker.py)
    durations: dict[str, float] = field(default_factory=dict)
    reach: dict | None = None  # what the control recorded (reach.py); None: nothing, every test runs
    _killers: dict[str, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _procs: set = field(default_factory=set)
    _stopping: bool = False
    _idle: list = field(default_factory=list)
    _workers: int = 0
    control_seconds: float = 0.0  # the control's processes' seconds added up (its wall time if one)

    @property
    def is_pytest(self) -> bool:
        return list(self.argv[:3]) == [sys.executable, "-m", "pytest"]

    @property
    def uses_workers(self) -> bool:
        """Whether mutants run in long-lived pytest workers: only for a pytest command."""
        return self.persistent and self.is_pytest

    def control(self, first_file: str | None, *, jobs: int = 1, seconds: dict[str, float] | None = None) -> Outcome:
        """The unmutated copy (a no-op comment added to ``first_file``) must pass; records durations
        and reach. A pytest command is split over ``jobs`` processes, each on a copy of its own with
        a server of its own, the test files dealt out by ``seconds`` (each file's seconds in an
        earlier control; else by size): see :func:`merge_controls`."""
        shards = max(1, jobs) if self.is_pytest else 1
        started = time.perf_counter()
        runs: list[tuple] = [()] * shards
        failed = threading.Event()
        bad: list[int] = []  # the processes that failed, in the order they did: the first by itself

        def one(index: int) -> None:
            copy = self.workspace.copy("control" if shards == 1 else f"control-{index + 1}")
            try:
                if first_file:
                    path = self.workspace.project(copy) / first_file
                    path.write_text(path.read_text() + NO_OP)
                plan: dict = {"durations": {}, "first": [], "record": self.select_tests}
                if shards > 1:
                    plan["shard"] = {"index": index, "count": shards, "seconds": seconds or {}}
                runs[index] = self._run(copy, plan, None, cancelled=failed)
            finally:
                self.workspace.remove(copy)
            rc, timed_out, _, result, _ = runs[index]
            if not _shard_passed(rc, timed_out, result):
                with self._lock:
                    bad.append(index)
                failed.set()  # the others stop: the control has failed anyway

        with ThreadPoolExecutor(max_workers=shards) as pool:
            futures = [pool.submit(one, n) for n in range(shards)]
            try:
                for future in futures:
                    future.result()
            except BaseException:  # interrupted: the control processes stop too
                failed.set()
                raise
        wall = time.perf_counter() - started
        self.control_seconds = sum(run[2] for run in runs)
        merged = merge_controls([run[3] for run in runs])
        self.durations = merged.get("durations") or {}
        if self.select_tests and "reach" in merged and merged.get("modules"):
            self.reach = {k: merged[k] for k in ("reach", "parse", "modules", "spawned")}
        if bad:
            rc, timed_out, _, result, log = runs[bad[0]]
            detail = classify(rc, timed_out)[1] or f"exit {rc}"
            where = f" (control process {bad[0] + 1} of {shards})" if shards > 1 else ""
            first = result.get("first_failure")
            raise ControlFailed(
                f"the tests fail without any mutant{where} ({detail}{', first failure: ' + first if first else ''}); "
                f"a mutation score on a failing suite means nothing.\nLog tail:\n{log}\n"
                f"Hint: run `{shlex.join(self.argv)}` in {self.workspace.root} and fix it first."
            )
        if shards > 1 and merged.get("unrun"):
            raise ControlFailed(
                f"the control's {shards} processes ran none of the test files {', '.join(merged['unrun'])}: "
                "they did not collect the same test files, so their share was lost.\n"
                "Hint: make collection deterministic, or run the control in one process (--jobs 1)."
            )
        split = f", in {shards} processes" if shards > 1 else ""
        return Outcome(None, "passed", wall, f"{len(self.durations)} tests{split}", 0)

    def selection(self, mutant: Mutant) -> list[str] | None:
        """The test files that can reach ``mutant`` (see reach.py); None: all of them."""
        if self.reach is None:
            return None
        source = (self.workspace.project(self.workspace.snapshot) / mutant.file).read_text()
        modules = reach.modules_for(self.reach["reach"], self.reach["parse"], mutant.file,
                                    reach.enclosing_macro(source, mutant.start))  # fmt: skip
        # Only files with tests the command runs: one imported at collection whose tests are all
        # deselected (by -m) has nothing to run.
        return None if modules is None else [m for m in modules if m in set(self.reach["modules"])]

    def mutant(self, mutant: Mutant) -> Outcome:
        select = self.selection(mutant)
        if select == []:
            where = reach.enclosing_macro(
                (self.workspace.project(self.workspace.snapshot) / mutant.file).read_text(), mutant.start
            )
            return Outcome(mutant, "survived", 0.0, f"no test reaches {where or mutant.file} (control run)", None)
        with self._lock:
            first = list(self._killers.get(mutant.file, []))
        plan = {"durations": self.durations, "first": first, "select": select,
                "known": self.reach["modules"] if self.reach else []}  # fmt: skip
        if self.uses_workers:
            rc, timed_out, seconds, result, log = self._in_worker(mutant, plan)
        else:
            copy = self.workspace.copy(f"m-{mutant.id}")
            try:
                path = self.workspace.project(copy) / mutant.file
                path.write_text(mutant.apply(path.read_text()))
                rc, timed_out, seconds, result, log = self._run(copy, plan, self.timeout)
            finally:
                self.workspace.remove(copy)
        status, detail = classify(rc, timed_out, self.timeout)
        failure = result.get("first_failure")
        if status == "killed" and failure:
            detail = failure
            with self._lock:
                killers = self._killers.setdefault(mutant.file, [])
                if failure in killers:
                    killers.remove(failure)
                killers.insert(0, failure)  # the latest killer first: neighbouring mutants are alike
        elif status == "error" and failure:
            detail += f"; {failure}"
        return Outcome(mutant, status, seconds, detail, rc, log if status == "error" else "")

    def _run(
        self, copy: Path, plan: dict, timeout: float | None, cancelled: threading.Event | None = None
    ) -> tuple[int | None, bool, float, dict, str]:
        # Next to the copy, not in it: the copy's git status shows only the mutant.
        plan_file, result_file, log_file = (
            copy.with_name(copy.name + ".plan.json"),
            copy.with_name(copy.name + ".result.json"),
            copy.with_name(copy.name + ".log"),
        )
        plan_file.write_text(json.dumps(plan))
        env = self.workspace.env(copy, plan_file, result_file)
        started = time.perf_counter()
        timed_out = False
        with log_file.open("w") as log:
            if self._stopping:
                return None, False, 0.0, {}, "not started: interrupted"
            proc = subprocess.Popen(self.argv, cwd=copy, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
            with self._lock:
                self._procs.add(proc)
            try:
                if cancelled is None:
                    proc.wait(timeout=timeout)
                else:  # a control process: stopped when another one has failed
                    while proc.poll() is None and not cancelled.wait(0.5):
                        pass
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                if proc.poll() is None:
                    _kill_group(proc)
                with self._lock:
                    self._procs.discard(proc)
        seconds = time.perf_counter() - started
        try:
            result = json.loads(result_file.read_text())
        except (OSError, ValueError):
            result = {}
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-30:])
        return (None if timed_out else proc.returncode), timed_out, seconds, result, tail

    def _in_worker(self, mutant: Mutant, plan: dict) -> tuple[int | None, bool, float, dict, str]:
        base = self.workspace.dir / f"m-{mutant.id}"
        plan_file, result_file, log_file = (base.with_name(base.name + suffix)
                                            for suffix in (".plan.json", ".result.json", ".log"))  # fmt: skip
        plan_file.write_text(json.dumps(plan))
        source = (self.workspace.project(self.workspace.snapshot) / mutant.file).read_text()
        with self._lock:
            if self._stopping:
                return None, False, 0.0, {}, "not started: interrupted"
            worker = self._idle.pop() if self._idle else None
            if worker is None:
                self._workers += 1
                worker = _Worker(self.workspace, f"w{self._workers}", self.argv[3:])
                self._procs.add(worker.proc)
        request = {"file": str(self.workspace.project(worker.copy) / mutant.file), "text": mutant.apply(source),
                   "plan": str(plan_file), "result": str(result_file), "log": str(log_file)}  # fmt: skip
        started = time.perf_counter()
        reply = worker.ask(request, self.timeout)
        seconds = time.perf_counter() - started
        timed_out = reply is None and not worker.died
        if reply is None:  # a timeout, or the worker died: it and its copy go, the next mutant gets a new one
            with self._lock:
                self._procs.discard(worker.proc)
            worker.close()
        else:
            with self._lock:
                self._idle.append(worker)
        try:
            result = json.loads(result_file.read_text())
        except (OSError, ValueError):
            result = {}
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-30:]) if log_file.exists() else ""
        if not self.workspace.keep:
            for f in (plan_file, result_file, log_file):
                f.unlink(missing_ok=True)
        if reply is None and not timed_out:
            # Never a kill, whatever its exit status: the worker itself failed, not a test.
            tail += f"\nthe mutation worker died (exit {worker.proc.returncode}); its log: {worker.log}"
            return WORKER_DIED, False, seconds, {**result, "first_failure": None}, tail
        return (reply or {}).get("rc"), timed_out, seconds, result, tail

    def close(self) -> None:
        """End the workers and remove their copies."""
        with self._lock:
            workers, self._idle = self._idle, []
        for worker in workers:
            worker.close()

    def stop(self) -> None:
        """Stop every run in progress (and what it started) and start no new one."""
        self._stopping = True
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _kill_group(proc)


class _Worker:
    """One long-lived ``python -m tenant_harness.mutate.worker`` on a copy of its own."""

    def __init__(self, workspace: Workspace, name: str, pytest_args: Sequence[str]):
        self.workspace = workspace
        self.died = False
        self.copy = workspace.copy(name)
        self.log = self.copy.with_name(name + ".log")
        env = workspace.env(self.copy, self.copy.with_name(name + ".plan.json"),
                            self.copy.with_name(name + ".result.json"))  # fmt: skip
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tenant_harness.mutate.worker", *pytest_args], cwd=self.copy, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True,
            )  # fmt: skip

    def ask(self, request: dict, timeout: float | None) -> dict | None:
        """The worker's answer to ``request``; None on a timeout or when the worker died."""
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except OSError:
            self.died = True
            return None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        if not line.strip():
            self.died = True
            return None
        return json.loads(line)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if self.proc.poll() is None:
            _kill_group(self.proc)
        self.workspace.remove(self.copy)


def seconds_file(root: Path, command: str) -> Path:
    """Where the seconds each test file took in the last passing control of ``command`` on ``root``
    are kept (outside the checkout: a run writes nothing there), to deal the next control's files."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256(f"{root.resolve()}\0{command}".encode()).hexdigest()[:16]
    return cache / "tenant-harness" / "mutate-control" / f"{key}.json"


def load_seconds(path: Path) -> dict[str, float]:
    """The seconds by test file kept at ``path``; none when missing or unreadable (then sizes deal)."""
    try:
        data = json.loads(path.read_text())
        return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError, TypeError):
        return {}


def save_seconds(path: Path, durations: dict[str, float]) -> None:
    """Keep the seconds by test file of a passing control (best effort: a read-only home is fine)."""
    by_file: dict[str, float] = {}
    for nodeid, seconds in durations.items():
        name = nodeid.split("::", 1)[0]
        by_file[name] = by_file.get(name, 0.0) + seconds
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: round(v, 2) for k, v in sorted(by_file.items())}))
        tmp.replace(path)
    except OSError:
        pass


def _shard_passed(rc: int | None, timed_out: bool, result: dict) -> bool:
    """Whether a control process passed: exit 0, or pytest's 5 (no tests) from a process that was
    dealt no test file of the many the command collected."""
    if timed_out:
        return False
    return rc == 0 or (rc == 5 and "shard" in result and not result.get("ran") and bool(result.get("modules")))


def merge_controls(results: Sequence[dict]) -> dict:
    """One control record from those of its processes (pytest_order's result files). Each test file
    ran in one process, but every process imported every test file (collection) and set up the
    session- and package-scoped fixtures its own files asked for, so what is shared (the module
    ``""``: fixtures, conftest files) and what each file reaches are the union over the processes;
    so are the macros rendered while parsing and the programs started. ``unrun``: test files some
    process collected that none ran (so none checked)."""
    if len(results) == 1:
        return dict(results[0])
    merged: dict = {"durations": {}, "first_failure": None}
    reach_: dict[str, set[str]] = {}
    spawned: dict[str, set[str]] = {}
    parse: set[str] = set()
    modules: set[str] = set()
    ran: set[str] = set()
    recorded = all("reach" in r for r in results)
    for result in results:
        merged["durations"].update(result.get("durations") or {})
        merged["first_failure"] = merged["first_failure"] or result.get("first_failure")
        modules.update(result.get("modules") or ())
        ran.update(result.get("ran") or (result.get("modules") if "shard" not in result else ()) or ())
        for module, keys in (result.get("reach") or {}).items():
            reach_.setdefault(module, set()).update(keys)
        for module, programs in (result.get("spawned") or {}).items():
            spawned.setdefault(module, set()).update(programs)
        parse.update(result.get("parse") or ())
    merged["modules"] = sorted(modules)
    merged["unrun"] = sorted(modules - ran)
    if recorded:
        merged["reach"] = {m: sorted(k) for m, k in sorted(reach_.items())}
        merged["parse"] = sorted(parse)
        merged["spawned"] = {m: sorted(p) for m, p in sorted(spawned.items())}
    return merged


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_all(
    runner: Runner,
    mutants: Sequence[Mutant],
    equivalents: dict[str, Equivalent],
    *,
    jobs: int = 1,
    on_outcome: Callable[[Outcome, int, int], None] | None = None,
) -> list[Outcome]:
    """Every mutant's outcome, in the order of ``mutants``; reviewed equivalents are not run."""
    outcomes: dict[int, Outcome] = {}
    todo = []
    for n, m in enumerate(mutants):
        if m.id in equivalents:
            outcomes[n] = Outcome(m, "equivalent", detail=equivalents[m.id].reason)
        else:
            todo.append(n)
    done = len(outcomes)
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = {pool.submit(runner.mutant, mutants[n]): n for n in todo}
        for future in as_completed(futures):
            n = futures[future]
            outcomes[n] = future.result()
            done += 1
            if on_outcome:
                on_outcome(outcomes[n], done, len(mutants))
    except BaseException:
        runner.stop()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        runner.close()
    pool.shutdown(wait=True)
    return [outcomes[n] for n in range(len(mutants))]
