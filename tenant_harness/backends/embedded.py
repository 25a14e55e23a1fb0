"""The embedded backend: a throwaway PostgreSQL from pip-shipped binaries, in its own folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ..endpoint import Endpoint, Server, wait_until_ready
from ..errors import ServerStartError
from ..postmaster import (
    FOLDER_PREFIX,
    OWNER_FILE,
    drop_root,
    drop_root_and_die_with_parent,
    find_pg_bin,
    free_port,
    reap_orphans,
    scratch_root,
    stop_pid,
)

_SOCKET_PATH_MAX = 107  # sun_path (108 bytes with its NUL), as PostgreSQL checks it


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
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=scratch_root()))
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
            self._check_socket_path()
            self.base_dir.mkdir(parents=True, exist_ok=True)
            # Who owns this folder: reap_orphans() removes it once that process is gone.
            (self.base_dir / OWNER_FILE).write_text("detached" if self.detached else str(os.getpid()))
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

    def _check_socket_path(self) -> None:
        """PostgreSQL refuses a Unix socket path over 107 bytes, and its own message names neither
        the cause's source nor the way out: say both before initdb runs."""
        path = str((self.socket_dir / ".s.PGSQL.65535").absolute())
        if len(path.encode()) > _SOCKET_PATH_MAX:
            raise ServerStartError(
                f"the embedded server's folder {self.base_dir} is too deep for its Unix socket ({path}: "
                f"{len(path.encode())} bytes, PostgreSQL allows {_SOCKET_PATH_MAX}). Hint: point "
                "TENANT_HARNESS_TMPDIR at a shorter folder, e.g. /tmp/th."
            )

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
            done = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=drop_root)
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
            # Dynamic shared memory as files in the data folder, not /dev/shm/PostgreSQL.*: a
            # server killed outright leaves its segments where the reaper removes them.
            "-c", "dynamic_shared_memory_type=mmap",
        ]  # fmt: skip
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it from here on
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal is ours to handle, not postgres'
                preexec_fn=drop_root if self.detached else drop_root_and_die_with_parent,
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
