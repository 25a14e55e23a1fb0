"""dbt, in-process: the only module that imports dbt.

Any dbt project runs here, the harness's own or a team's. The harness writes its own ``profiles.yml``
for the project's ``profile:`` name into a private temporary folder; it reads the connection from the
environment (``env_var()``), which is set only for the duration of a call, so a project's own
``profiles.yml`` needs no harness variables. dbt keeps global state, so invocations are serialised by
one process-wide lock. Vars the harness passes are merged key by key into the project's own vars
(a ``--vars`` dict replaces a whole top-level var in dbt), and packages are installed when missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import assets
from .errors import DbtRunError

# dbtRunner is not safe to call from two threads at once.
_DBT_LOCK = threading.Lock()
DEFAULT_PROJECT_DIR = assets.PROJECT_DIR
_FAILED = {"error", "fail", "runtime error"}
# Commands that must not trigger `dbt deps` first.
_NO_DEPS = {"deps", "clean", "init", "--version", "--help", "-h"}


def default_project_dir() -> Path:
    """``TENANT_HARNESS_PROJECT_DIR`` if set (e.g. a mutated copy), else the harness's own project
    (the checkout's dbt/, or the copy inside the installed package)."""
    return Path(os.environ.get("TENANT_HARNESS_PROJECT_DIR") or DEFAULT_PROJECT_DIR)


def merge_vars(base: Any, override: Any) -> Any:
    """``override`` merged into ``base`` key by key, recursively; anything but two mappings (lists
    included) is replaced by ``override``."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_vars(base.get(key), value)
        return merged
    return override


def read_project_file(project_dir: str | os.PathLike) -> dict[str, Any]:
    """``dbt_project.yml`` of ``project_dir`` as a dict; a one-line error if it is missing or bad."""
    path = Path(project_dir) / "dbt_project.yml"
    if not path.exists():
        raise DbtRunError(
            f"no dbt_project.yml in {Path(project_dir).resolve()}. Hint: point --project-dir, "
            "TENANT_HARNESS_PROJECT_DIR or project_dir in tenant-harness.toml at your dbt project's folder."
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DbtRunError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise DbtRunError(f"{path} must be a mapping, got {type(data).__name__}.")
    return data


def project_vars(project_dir: str | os.PathLike, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The --vars to pass for ``overrides``: each top-level var the harness sets, merged into the
    project's own value of it, so a setting never drops the project's other keys."""
    return _over_own_vars(read_project_file(project_dir), overrides)


def _over_own_vars(project_file: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    own = project_file.get("vars") or {}
    return {key: merge_vars(own.get(key), value) for key, value in overrides.items()}


# The connection comes from the environment the harness sets per call (Endpoint.dbt_env,
# RedshiftSettings.dbt_env); the password only from DBT_ENV_SECRET_* variables, which dbt masks.
_PROFILE_OUTPUTS = {
    "local": {
        "type": "postgres",
        "host": "{{ env_var('DBT_PG_HOST', 'localhost') }}",
        "port": "{{ env_var('DBT_PG_PORT', '5432') | as_number }}",
        "user": "{{ env_var('DBT_PG_USER', 'postgres') }}",
        "password": "{{ env_var('DBT_ENV_SECRET_PG_PASSWORD', '') }}",
        "dbname": "{{ env_var('DBT_PG_DBNAME', 'multitenant_analytics') }}",
        "schema": "{{ env_var('DBT_PG_SCHEMA', 'analytics') }}",
        "threads": "{{ env_var('DBT_THREADS', '4') | as_number }}",
        "connect_timeout": 10,
    },
    "redshift": {
        "type": "redshift",
        "method": "{{ env_var('DBT_REDSHIFT_METHOD', 'database') }}",
        "host": "{{ env_var('DBT_REDSHIFT_HOST', 'localhost') }}",
        "port": "{{ env_var('DBT_REDSHIFT_PORT', '5439') | as_number }}",
        "user": "{{ env_var('DBT_REDSHIFT_USER', 'dbt_user') }}",
        "password": "{{ env_var('DBT_ENV_SECRET_REDSHIFT_PASSWORD', '') }}",
        "cluster_id": "{{ env_var('DBT_REDSHIFT_CLUSTER_ID', '') }}",
        "iam_profile": "{{ env_var('DBT_REDSHIFT_IAM_PROFILE', '') }}",
        "region": "{{ env_var('DBT_REDSHIFT_REGION', '') }}",
        "dbname": "{{ env_var('DBT_REDSHIFT_DBNAME', 'dev') }}",
        "schema": "{{ env_var('DBT_REDSHIFT_SCHEMA', 'analytics') }}",
        "threads": "{{ env_var('DBT_THREADS', '4') | as_number }}",
        "connect_timeout": 10,
    },
}


def write_profiles(folder: str | os.PathLike, profile: str) -> Path:
    """Write a ``profiles.yml`` for profile ``profile`` into ``folder``: targets ``local``
    (PostgreSQL) and ``redshift``, chosen by ``DBT_TARGET``, every value read with ``env_var()``.
    Holds no secret. Returns the file."""
    path = Path(folder) / "profiles.yml"
    content = {profile: {"target": "{{ env_var('DBT_TARGET', 'local') }}", "outputs": _PROFILE_OUTPUTS}}
    path.write_text(
        "# Written by tenant-harness for this run; removed after it. Values come from the environment.\n"
        + yaml.safe_dump(content, sort_keys=False)
    )
    return path


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

    ``project_dir`` defaults to :func:`default_project_dir`. ``env`` holds the connection variables
    (see ``Endpoint.dbt_env``) that the harness's generated ``profiles.yml`` reads; pass
    ``profiles_dir`` to use a ``profiles.yml`` of your own instead. ``vars`` are merged key by key into
    the project's own vars and passed as ``--vars``. dbt's target/ and logs/ go to a private folder
    (``work_dir``, a new temporary folder by default, removed by :meth:`close`) so concurrent
    harnesses never share them. Missing packages are installed (``dbt deps``) before the first command.

    ``artifacts=False`` is for test suites that run dbt hundreds of times: dbt writes no
    manifest.json or run_results.json (``--no-write-json``; they cost about a third of a small run),
    and each project, distinct ``--vars`` and connection (``env`` but its secrets) gets a target/ of
    its own in ``work_dir``, so that dbt's partial parsing, which starts over whenever the vars or
    the connection differ from the last parse's, survives calls that alternate between them.
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
        artifacts: bool = True,
    ):
        self.project_dir = Path(project_dir or default_project_dir()).resolve()
        self.project_file = read_project_file(self.project_dir)
        self.profile = self.project_file.get("profile")
        self._generated_profiles: Path | None = None
        if profiles_dir:
            self.profiles_dir = Path(profiles_dir).resolve()
        else:
            if not isinstance(self.profile, str) or not self.profile:
                raise DbtRunError(
                    f"{self.project_dir / 'dbt_project.yml'} names no profile (profile: ...). Hint: add "
                    "`profile: <name>`; the harness writes the connection for that name itself."
                )
            self._generated_profiles = _new_owned_dir(_PROFILES_PREFIX)
            write_profiles(self._generated_profiles, self.profile)
            self.profiles_dir = self._generated_profiles
        self._deps_checked = False
        self.env = dict(env)
        self.vars = dict(vars or {})
        self.target = target
        self.quiet = quiet
        self.artifacts = artifacts
        self._owns_work_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir else _new_work_dir()

    def close(self) -> None:
        """Remove the generated profiles.yml, and the private target/ and logs/ folder if this
        object made it."""
        if self._generated_profiles is not None:
            shutil.rmtree(self._generated_profiles, ignore_errors=True)
        if self._owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def missing_packages(self) -> list[str]:
        """The packages ``packages.yml`` (or ``dependencies.yml``) lists when fewer packages than that
        are installed in the project's ``packages-install-path``; empty when all are there."""
        listed: list[Any] = []
        for name in ("packages.yml", "dependencies.yml"):
            path = self.project_dir / name
            if path.exists():
                listed += (yaml.safe_load(path.read_text()) or {}).get("packages") or []
        install = self.project_dir / str(self.project_file.get("packages-install-path") or "dbt_packages")
        installed = [p for p in install.iterdir() if (p / "dbt_project.yml").exists()] if install.is_dir() else []
        if len(installed) >= len(listed):
            return []
        return [json.dumps(entry, sort_keys=True) if isinstance(entry, dict) else str(entry) for entry in listed]

    def _ensure_deps(self, args: Sequence[str]) -> None:
        if self._deps_checked or not args or args[0] in _NO_DEPS:
            return
        self._deps_checked = True
        if self.missing_packages():
            self.invoke("deps")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def invoke(self, *args: str, vars: Mapping[str, Any] | None = None, check: bool = True) -> DbtResult:
        """Run ``dbt <args>`` and return its structured result; raise DbtRunError when it fails
        and ``check`` is true. ``vars`` (and a ``--vars`` in ``args``) are merged over this object's vars
        and the project's own, key by key, for this call."""
        from dbt.cli.main import dbtRunner
        from dbt.deprecations import reset_deprecations

        self._ensure_deps(args)
        args, given = _split_vars(args)
        overrides = merge_vars(merge_vars(self.vars, dict(vars or {})), given)
        # Read again: the project's vars may have changed since the last call.
        merged = _over_own_vars(read_project_file(self.project_dir), overrides)
        cli = [*args, "--project-dir", str(self.project_dir), "--profiles-dir", str(self.profiles_dir)]
        if merged:
            cli += ["--vars", json.dumps(merged)]
        if self.target:
            cli += ["--target", self.target]
        if self.quiet:
            cli = ["--quiet", *cli]
        target_dir = self.work_dir / "target"
        if not self.artifacts:
            cli = ["--no-write-json", *cli]
            # dbt parses in full again when the connection (its database name included) differs
            # from the last parse's: keyed by it too, a state survives tests on two databases.
            connection = {k: v for k, v in self.env.items() if not k.startswith("DBT_ENV_SECRET")}
            key = json.dumps([str(self.project_dir), merged, connection], sort_keys=True, default=str)
            target_dir = target_dir / hashlib.sha1(key.encode()).hexdigest()[:12]
        env = {
            **self.env,
            "DBT_TARGET_PATH": str(target_dir),
            "DBT_LOG_PATH": str(self.work_dir / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_VERSION_CHECK": "false",
            "DBT_USE_COLORS": _use_colors(),
        }
        events = _EventLog()
        started = time.perf_counter()
        with _DBT_LOCK, _environment(env):
            # dbt counts deprecations process-wide; each command reports only its own.
            reset_deprecations()
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


_WORK_PREFIX = "tenant-harness-dbt-"
_PROFILES_PREFIX = "tenant-harness-profiles-"
_OWNER_FILE = "owner"


def _new_work_dir() -> Path:
    """A private folder for dbt's target/ and logs/, marked with its owner (pid and start time)."""
    return _new_owned_dir(_WORK_PREFIX)


def _new_owned_dir(prefix: str) -> Path:
    """A temporary folder marked with its owner (pid and start time), so that reap_work_dirs
    removes it if the owner dies without cleaning up."""
    reap_work_dirs()
    path = Path(tempfile.mkdtemp(prefix=prefix))
    (path / _OWNER_FILE).write_text(f"{os.getpid()} {_started(os.getpid())}")
    return path


def reap_work_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """Remove the dbt work folders and generated profiles.yml folders of harness processes that
    died without cleaning up (killed outright, e.g. SIGKILL), as the server folders are; run
    whenever a new one is made."""
    reaped = []
    top = Path(root or tempfile.gettempdir())
    for folder in [*top.glob(_WORK_PREFIX + "*"), *top.glob(_PROFILES_PREFIX + "*")]:
        try:
            pid, started = (folder / _OWNER_FILE).read_text().split()
            if _started(int(pid)) == float(started):
                continue  # its owner still runs
        except (OSError, ValueError):
            continue  # not marked (yet): leave it
        shutil.rmtree(folder, ignore_errors=True)
        reaped.append(folder)
    return reaped


def _started(pid: int) -> float | None:
    """When process ``pid`` started (None if it does not run): a pid can be reused by another."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _use_colors() -> str:
    """dbt's colour codes only on a terminal (never in a pipe or a log file), unless NO_COLOR is set;
    an explicit DBT_USE_COLORS wins."""
    explicit = os.environ.get("DBT_USE_COLORS")
    if explicit:
        return explicit
    terminal = getattr(sys.stdout, "isatty", lambda: False)()
    return "true" if terminal and not os.environ.get("NO_COLOR") else "false"


def _split_vars(args: Sequence[str]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """``args`` without their ``--vars`` options, and those vars (YAML or JSON, merged in order)."""
    rest: list[str] = []
    given: dict[str, Any] = {}
    items = list(args)
    while items:
        arg = items.pop(0)
        if arg == "--vars" and items:
            text = items.pop(0)
        elif arg.startswith("--vars="):
            text = arg.split("=", 1)[1]
        else:
            rest.append(arg)
            continue
        try:
            value = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise DbtRunError(f"--vars {shlex.quote(text)} is not valid YAML: {exc}") from exc
        if not isinstance(value, dict):
            raise DbtRunError(f"--vars {shlex.quote(text)} must be a mapping, e.g. '{{batch: 1}}'.")
        given = merge_vars(given, value)
    return tuple(rest), given


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
