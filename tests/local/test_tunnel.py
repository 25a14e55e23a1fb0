"""--ssh-tunnel against a real OpenSSH server: an sshd started here on a loopback port with a throwaway
host key, client key and config of its own, forwarding to the embedded PostgreSQL. Skipped, saying
why, where Debian's openssh-server (or the client) is not installed; .ci/install-sshd installs them."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner
from psycopg.conninfo import conninfo_to_dict

from tenant_harness.cli import main
from tenant_harness.tunnel import SshTarget, SshTunnel, TunnelError

pytestmark = pytest.mark.local

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
MISSING = [name for name, path in (("sshd", SSHD), ("ssh", shutil.which("ssh")),
                                   ("ssh-keygen", shutil.which("ssh-keygen"))) if path is None]  # fmt: skip


@dataclass(frozen=True)
class Sshd:
    """A running sshd: where it listens, who may log in with which key, and its log."""

    port: int
    user: str
    key: Path
    known_hosts: Path
    log: Path

    @property
    def spec(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    def forwards_to(self, port: int) -> bool:
        """Whether sshd logged a forwarded connection to 127.0.0.1:<port> (a channel it opened)."""
        return f"target 127.0.0.1 port {port}" in self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory) -> Sshd:
    """sshd on 127.0.0.1 with its own host key, config and authorized key, for this module only."""
    if MISSING:
        pytest.skip(f"{', '.join(MISSING)} not installed (Debian: apt-get install openssh-server openssh-client; "
                    ".ci/install-sshd does it)")  # fmt: skip
    home = tmp_path_factory.mktemp("sshd")
    home.chmod(0o700)
    user = getpass.getuser()
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(home / name)], check=True)
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    port = _free_port()
    host_pub = (home / "host_key.pub").read_text().split()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    (home / "sshd_config").write_text(
        "\n".join([
            f"ListenAddress 127.0.0.1:{port}", f"HostKey {home / 'host_key'}", f"PidFile {home / 'sshd.pid'}",
            f"AuthorizedKeysFile {home / 'authorized_keys'}", f"AllowUsers {user}", "AuthenticationMethods publickey",
            "PubkeyAuthentication yes", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no", "AllowTcpForwarding local",
            "PermitTTY no", "X11Forwarding no", "LogLevel DEBUG1",
        ]) + "\n"
    )  # fmt: skip
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    log = home / "sshd.log"
    proc = subprocess.Popen([SSHD, "-D", "-f", str(home / "sshd_config"), "-E", str(log)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:  # ready when it greets: an SSH banner, not just an open port
            if proc.poll() is not None:
                pytest.fail(f"sshd exited ({proc.returncode}): {log.read_text(errors='replace')[-1500:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-2.0-"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"sshd did not answer on port {port}: {log.read_text(errors='replace')[-1500:]}")
            time.sleep(0.1)
        yield Sshd(port, user, home / "client_key", home / "known_hosts", log)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def ssh_children() -> list[psutil.Process]:
    """ssh clients this test process started and that still run. Other children (the embedded
    server's backends) come and go meanwhile: one gone before its name is read is not an ssh."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name() == "ssh":
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def tunnel_args(sshd: Sshd) -> list[str]:
    return ["--ssh-tunnel", sshd.spec, "--ssh-key", str(sshd.key), "--ssh-known-hosts", str(sshd.known_hosts)]


@pytest.mark.tenants(n=3, rows=2)
def test_run_and_verify_through_the_tunnel(sshd, tenant_database, tmp_path, monkeypatch):
    monkeypatch.setenv("TENANT_HARNESS_STATE_DIR", str(tmp_path / "state"))
    pg_port = int(conninfo_to_dict(tenant_database.conninfo)["port"])
    runner = CliRunner()
    for command in ("run", "verify"):
        result = runner.invoke(main, [command, "--dsn", tenant_database.conninfo, *tunnel_args(sshd)],
                               catch_exceptions=False)  # fmt: skip
        assert result.exit_code == 0, result.output
        assert f"-> 127.0.0.1:{pg_port} via {sshd.user}@127.0.0.1:{sshd.port}" in result.output
        assert ssh_children() == []  # closed when the command ended
    assert sshd.forwards_to(pg_port)  # dbt and the checks went through sshd


@pytest.mark.tenants(n=3, rows=2)
def test_tunnel_closes_when_the_command_fails(sshd, tenant_database, tmp_path, monkeypatch):
    monkeypatch.setenv("TENANT_HARNESS_STATE_DIR", str(tmp_path / "state"))
    result = CliRunner().invoke(main, ["exec", "--dsn", tenant_database.conninfo, *tunnel_args(sshd), "--",
                                       "run-operation", "no_such_macro"])  # fmt: skip
    assert result.exit_code == 1 and "no_such_macro" in result.output
    assert ssh_children() == []


def test_tunnel_closes_on_ctrl_c(sshd, tenant_server):
    port = tenant_server.endpoint.port
    tunnel = SshTunnel(bastion=SshTarget.parse(sshd.spec), key_file=sshd.key, remote_host="127.0.0.1",
                       remote_port=port, known_hosts=sshd.known_hosts)  # fmt: skip
    with pytest.raises(KeyboardInterrupt), tunnel:
        pid = tunnel._proc.pid
        assert psutil.pid_exists(pid)
        raise KeyboardInterrupt
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_killed_harness_leaves_no_tunnel(sshd, tenant_server, tmp_path):
    """A harness killed outright (SIGKILL, no cleanup) takes its ssh with it: parent-death signal."""
    script = (
        "import sys, time\n"
        "from tenant_harness.tunnel import SshTarget, SshTunnel\n"
        f"t = SshTunnel(bastion=SshTarget.parse({sshd.spec!r}), key_file={str(sshd.key)!r}, remote_host='127.0.0.1',"
        f" remote_port={tenant_server.endpoint.port}, known_hosts={str(sshd.known_hosts)!r}).start()\n"
        "print(t._proc.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    ssh_pid = int(harness.stdout.readline())
    assert psutil.pid_exists(ssh_pid)
    harness.send_signal(signal.SIGKILL)
    harness.wait(timeout=10)
    deadline = time.monotonic() + 10
    while psutil.pid_exists(ssh_pid) and psutil.Process(ssh_pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "ssh outlived the killed harness"
        time.sleep(0.1)


def test_unknown_bastion_host_key_is_refused(sshd, tenant_server, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    tunnel = SshTunnel(bastion=SshTarget.parse(sshd.spec), key_file=sshd.key, remote_host="127.0.0.1",
                       remote_port=tenant_server.endpoint.port, known_hosts=empty)  # fmt: skip
    with pytest.raises(TunnelError, match="known_hosts"):
        tunnel.start()
    assert ssh_children() == []


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [("ec2-user@bastion.example.com", SshTarget("ec2-user", "bastion.example.com", 22)),
     ("me@10.0.0.5:2222", SshTarget("me", "10.0.0.5", 2222)), ("me@[::1]:22", SshTarget("me", "::1", 22))],
)  # fmt: skip
def test_ssh_tunnel_spec(spec, parsed):
    assert SshTarget.parse(spec) == parsed


@pytest.mark.parametrize("spec", ["bastion", "@host", "me@", "me@host:0", "me@host:99999", "me@host:x", "a b@host"])
def test_bad_ssh_tunnel_spec_names_the_form(spec):
    with pytest.raises(TunnelError, match=r"user@host\[:port\]"):
        SshTarget.parse(spec)
