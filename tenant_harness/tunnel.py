"""An SSH local port forward through a bastion host, for targets in a private network.

The system's OpenSSH client does the work (``ssh -N -L``): no extra Python dependency, and the keys,
agent, ``known_hosts`` and ``~/.ssh/config`` (ProxyJump, ...) a team already uses for its bastion
apply unchanged. The forward listens on 127.0.0.1 only. The host key is checked (``BatchMode``: no
prompt, an unknown or changed bastion key is an error, never accepted silently). The tunnel is a
context manager: ``ssh`` is stopped on exit, on errors and on Ctrl-C, and on Linux it gets a
parent-death signal, so a harness killed outright does not leave it running.
"""

from __future__ import annotations

import contextlib
import ctypes
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

from .errors import HarnessError

_PR_SET_PDEATHSIG = 1
_READY_TIMEOUT_S = 20.0
_SPEC = re.compile(r"^(?P<user>[^@\s:]+)@(?P<host>\[[^\]]+\]|[^@\s:]+)(?::(?P<port>\d+))?$")


class TunnelError(HarnessError):
    """The SSH tunnel could not be opened, or it broke."""


@dataclass(frozen=True)
class SshTarget:
    """The bastion to forward through: ``user@host[:port]``."""

    user: str
    host: str
    port: int = 22

    @classmethod
    def parse(cls, spec: str) -> SshTarget:
        """``user@host`` or ``user@host:port`` (IPv6 as ``user@[::1]:22``); a clear error otherwise."""
        m = _SPEC.match(spec.strip())
        port = int(m.group("port")) if m and m.group("port") else 22
        if not m or not 0 < port < 65536:
            raise TunnelError(
                f"--ssh-tunnel must be user@host[:port], got {spec!r}. "
                "Hint: --ssh-tunnel ec2-user@bastion.example.com:22"
            )
        return cls(m.group("user"), m.group("host").strip("[]"), port)

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class SshTunnel:
    """``ssh -N -L 127.0.0.1:<local_port>:<remote_host>:<remote_port>`` through ``bastion``.

    ``remote_host`` is resolved by the bastion (e.g. a cluster endpoint in the private subnet).
    ``key_file`` is the private key to log in with; ``known_hosts`` a known_hosts file to check the
    bastion's host key against (default: ssh's own, ``~/.ssh/known_hosts``).
    """

    def __init__(
        self,
        *,
        bastion: SshTarget,
        key_file: str | os.PathLike,
        remote_host: str,
        remote_port: int,
        known_hosts: str | os.PathLike | None = None,
        ssh_bin: str | None = None,
        ready_timeout: float = _READY_TIMEOUT_S,
    ):
        self.bastion = bastion
        self.key_file = Path(key_file).expanduser()
        self.remote_host = remote_host
        self.remote_port = int(remote_port)
        self.known_hosts = Path(known_hosts).expanduser() if known_hosts else None
        self.ssh_bin = ssh_bin or shutil.which("ssh")
        self.ready_timeout = ready_timeout
        self.local_port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._log = None

    @property
    def local_host(self) -> str:
        return "127.0.0.1"

    def command(self, local_port: int) -> list[str]:
        """The ssh command line (no secrets on it: the key is a file name)."""
        cmd = [
            self.ssh_bin or "ssh", "-N",
            "-L", f"127.0.0.1:{local_port}:{self.remote_host}:{self.remote_port}",
            "-p", str(self.bastion.port), "-i", str(self.key_file),
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ExitOnForwardFailure=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",
            "-o", "ConnectTimeout=15",
        ]  # fmt: skip
        if self.known_hosts:
            cmd += ["-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null"]
        return [*cmd, f"{self.bastion.user}@{self.bastion.host}"]

    def start(self) -> SshTunnel:
        """Open the forward and wait until its local end accepts connections (ssh binds it only
        after logging in to the bastion)."""
        if self.ssh_bin is None:
            raise TunnelError(
                "--ssh-tunnel needs the OpenSSH client, and no `ssh` is on PATH. Hint: apt-get install openssh-client"
            )
        if not self.key_file.is_file():
            raise TunnelError(f"SSH key file {self.key_file} does not exist. Hint: --ssh-key with your private key.")
        self.local_port = _free_port()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - ssh's output, kept until stop()
        self._proc = subprocess.Popen(
            self.command(self.local_port), stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        deadline = time.monotonic() + self.ready_timeout
        try:
            while True:
                if self._proc.poll() is not None:
                    raise TunnelError(
                        f"ssh to {self.bastion} exited ({self._proc.returncode}) before the forward to "
                        f"{self.remote_host}:{self.remote_port} was up: {self._stderr_tail()}. Hint: check the key, "
                        "that the bastion's host key is in known_hosts (ssh-keyscan -p PORT HOST >> "
                        "~/.ssh/known_hosts, or --ssh-known-hosts FILE), and that the bastion may forward there."
                    )
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.local_port), timeout=1):
                    return self
                if time.monotonic() > deadline:
                    raise TunnelError(
                        f"ssh to {self.bastion}: the forward to {self.remote_host}:{self.remote_port} was not up after "
                        f"{self.ready_timeout:.0f} s: {self._stderr_tail()}"
                    )
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def _stderr_tail(self, lines: int = 3) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        text = self._log.read().decode(errors="replace").strip().splitlines()
        return " / ".join(text[-lines:]) or "no output"

    def stop(self) -> None:
        """Stop ssh (SIGTERM, then SIGKILL) and forget the forward. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> SshTunnel:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
