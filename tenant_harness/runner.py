"""dbt, in-process: the only module that imports dbt.

dbt reads its connection settings from the environment (``dbt/profiles.yml`` uses ``env_var()``) and
keeps global state, so invocations are serialised by one process-wide lock and the environment is set
only for the duration of a call.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DbtRunError

# dbtRunner is not safe to call from two threads at once.
_DBT_LOCK = threading.Lock()
DEFAULT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt"
_FAILED = {"error", "fail", "runtime error"}


def default_project_dir() -> Path:
    """``TENANT_HARNESS_PROJECT_DIR`` if set (e.g. a mutated copy), else this checkout's dbt/."""
    return Path(os.environ.get("TENANT_HARNESS_PROJECT_DIR") or DEFAULT_PROJECT_DIR)


@dataclass(frozen=True)
class NodeResult:
    """One node of a dbt command: a model built, a test run, ..."""

    unique_id: str
    name: str
    status: str
    message: str | None
    seconds: float
    rows_affected: int | None = None
    failures: int | None = None
    compiled_code: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in _FAILED


@dataclass(frozen=True)
class DbtResult:
    """The outcome of one dbt command."""

    args: tuple[str, ...]
    success: bool
    nodes: tuple[NodeResult, ...]
    seconds: float
    error: str | None = None
    errors: tuple[str, ...] = ()  # error events dbt logged (run-operation reports only these)
    warnings: tuple[str, ...] = ()
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def failed_nodes(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.failed]

    def node(self, name: str) -> NodeResult:
        """The result of the node called ``name`` (a model or test name)."""
        for n in self.nodes:
            if n.name == name or n.unique_id == name:
                return n
        raise KeyError(f"no node {name!r} in this result; nodes: {[n.name for n in self.nodes]}")

    def describe_failure(self) -> str:
        lines = [f"dbt {' '.join(self.args)} failed"]
        if self.error:
            lines.append(f"  {self.error}")
        described = [n for n in self.failed_nodes if (n.message or "").strip()]
        for n in described:
            lines.append(f"  {n.unique_id}: {n.status}: {(n.message or '').strip()}")
        if not described:
            lines.extend(f"  {e.strip()}" for e in self.errors[-5:])
            lines.extend(f"  {n.unique_id}: {n.status}" for n in self.failed_nodes)
        return "\n".join(lines)


class DbtProject:
    """A dbt project bound to one database, run in-process.

    ``project_dir`` defaults to :func:`default_project_dir`.
    ``env`` holds the variables ``profiles.yml`` reads (see ``Endpoint.dbt_env``); ``vars`` is passed
    as ``--vars``. dbt's target/ and logs/ go to a private folder (``work_dir``, a new temporary
    folder by default, removed by :meth:`close`) so concurrent harnesses never share them.
    """

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        project_dir: str | os.PathLike | None = None,
        profiles_dir: str | os.PathLike | None = None,
        vars: Mapping[str, Any] | None = None,
        target: str | None = None,
        work_dir: str | os.PathLike | None = None,
        quiet: bool = False,
    ):
        self.project_dir = Path(project_dir or default_project_dir()).resolve()
        if not (self.project_dir / "dbt_project.yml").exists():
            raise DbtRunError(
                f"no dbt_project.yml in {self.project_dir}. Hint: pass --project-dir pointing at "
                "the dbt/ folder of a tenant-harness checkout."
            )
        self.profiles_dir = Path(profiles_dir).resolve() if profiles_dir else self.project_dir
        self.env = dict(env)
        self.vars = dict(vars or {})
        self.target = target
        self.quiet = quiet
        self._owns_work_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="tenant-harness-dbt-"))

    def close(self) -> None:
        """Remove the private target/ and logs/ folder if this object made it."""
        if self._owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def invoke(self, *args: str, vars: Mapping[str, Any] | None = None, check: bool = True) -> DbtResult:
        """Run ``dbt <args>`` and return its structured result; raise DbtRunError when it fails
        and ``check`` is true. ``vars`` are merged over the project's vars for this call."""
        from dbt.cli.main import dbtRunner

        merged = {**self.vars, **(vars or {})}
        cli = [*args, "--project-dir", str(self.project_dir), "--profiles-dir", str(self.profiles_dir)]
        if merged:
            cli += ["--vars", json.dumps(merged)]
        if self.target:
            cli += ["--target", self.target]
        if self.quiet:
            cli = ["--quiet", *cli]
        env = {
            **self.env,
            "DBT_TARGET_PATH": str(self.work_dir / "target"),
            "DBT_LOG_PATH": str(self.work_dir / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_VERSION_CHECK": "false",
            "DBT_USE_COLORS": _use_colors(),
        }
        events = _EventLog()
        started = time.perf_counter()
        with _DBT_LOCK, _environment(env):
            outcome = dbtRunner(callbacks=[events]).invoke(cli)
        if isinstance(outcome.exception, KeyboardInterrupt):
            # dbtRunner catches Ctrl-C (and our SIGTERM); the caller must still see it to clean up.
            raise outcome.exception
        result = _to_result(tuple(args), outcome, time.perf_counter() - started, events)
        if check and not result.success:
            raise DbtRunError(result.describe_failure(), result=result)
        return result

    def run(self, *select: str, full_refresh: bool = False, **kw) -> DbtResult:
        """``dbt run`` (optionally ``--select``)."""
        return self.invoke("run", *_select(select), *(["--full-refresh"] if full_refresh else []), **kw)

    def test(self, *select: str, **kw) -> DbtResult:
        """``dbt test`` (optionally ``--select``)."""
        return self.invoke("test", *_select(select), **kw)

    def debug(self, **kw) -> DbtResult:
        """``dbt debug``: the environment check."""
        return self.invoke("debug", **kw)

    def compile(self, *select: str, **kw) -> DbtResult:
        """``dbt compile`` (optionally ``--select``)."""
        return self.invoke("compile", *_select(select), **kw)


def _use_colors() -> str:
    """dbt's colour codes only on a terminal (never in a pipe or a log file), unless NO_COLOR is set;
    an explicit DBT_USE_COLORS wins."""
    explicit = os.environ.get("DBT_USE_COLORS")
    if explicit:
        return explicit
    terminal = getattr(sys.stdout, "isatty", lambda: False)()
    return "true" if terminal and not os.environ.get("NO_COLOR") else "false"


def _select(select: Sequence[str]) -> list[str]:
    return ["--select", *select] if select else []


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _EventLog:
    """dbt event callback keeping the error and warning messages."""

    def __init__(self):
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def __call__(self, event: Any) -> None:
        level = event.info.level
        if level == "error":
            self.errors.append(event.info.msg)
        elif level == "warn":
            self.warnings.append(event.info.msg)


def _to_result(args: tuple[str, ...], outcome: Any, seconds: float, events: _EventLog) -> DbtResult:
    nodes = []
    results = getattr(outcome.result, "results", None) or []
    for r in results:
        node = getattr(r, "node", None)
        response = getattr(r, "adapter_response", None) or {}
        nodes.append(
            NodeResult(
                unique_id=getattr(node, "unique_id", "?"),
                name=getattr(node, "name", "?"),
                status=str(getattr(r.status, "value", r.status)),
                message=r.message,
                seconds=float(r.execution_time or 0.0),
                rows_affected=response.get("rows_affected") if isinstance(response, dict) else None,
                failures=r.failures,
                compiled_code=getattr(node, "compiled_code", None),
            )
        )
    error = None if outcome.exception is None else f"{type(outcome.exception).__name__}: {outcome.exception}"
    success = bool(outcome.success) and not any(n.failed for n in nodes)
    return DbtResult(
        args, success, tuple(nodes), seconds, error=error, errors=tuple(events.errors),
        warnings=tuple(events.warnings), raw=outcome,
    )  # fmt: skip
