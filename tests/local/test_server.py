"""The embedded server: starts as root or not, answers queries, leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tenant_harness.errors import ServerStartError
from tenant_harness.server import EmbeddedServer, ExistingServer, reap_orphans

pytestmark = pytest.mark.local


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes.
    try:
        with open(f"/proc/{pid}/status") as f:
            return "zombie" not in f.read()
    except FileNotFoundError:
        return False


def test_embedded_server_answers_and_cleans_up():
    server = EmbeddedServer().start()
    with server:
        with psycopg.connect(server.conninfo()) as conn:
            assert conn.execute("select 1 + 1").fetchone() == (2,)
        pid, folder = server.pid, server.base_dir
        assert folder.exists()
    assert not folder.exists()
    assert not _alive(pid)


def test_two_servers_at_once_do_not_collide():
    with EmbeddedServer().start() as a, EmbeddedServer().start() as b:
        assert a.endpoint.port != b.endpoint.port
        assert a.base_dir != b.base_dir
        for s in (a, b):
            with psycopg.connect(s.conninfo()) as conn:
                conn.execute("select 1")


def test_server_dies_with_a_killed_owner_and_its_folder_is_reaped():
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import time; from tenant_harness.server import EmbeddedServer\n"
         "s = EmbeddedServer().start(); print(s.pid, s.base_dir, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    pid_text, folder = child.stdout.readline().split()
    # Its dynamic shared memory is in its folder (not /dev/shm, where a killed server's stays).
    assert list((Path(folder) / "data" / "pg_dynshmem").iterdir())
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 10
    while _alive(int(pid_text)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(int(pid_text)), "postmaster outlived its killed owner"
    assert folder in {str(p) for p in reap_orphans()}
    assert not os.path.exists(folder)


def test_existing_server_by_dsn(tenant_server):
    server = ExistingServer(dsn=tenant_server.conninfo()).start()
    with server, psycopg.connect(server.conninfo()) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_unreachable_dsn_is_a_clear_error():
    with pytest.raises(ServerStartError, match="TENANT_HARNESS_DSN"):
        ExistingServer(dsn="postgresql://nobody@127.0.0.1:1/x").start()


def test_a_login_the_server_refuses_is_named_at_once(tenant_server):
    """A missing database (or a wrong password) cannot heal by waiting: the error says the server
    refused, with its reason, not that it did not answer in time."""
    dsn = tenant_server.endpoint.conninfo("no_such_database")
    with pytest.raises(ServerStartError, match='refused the connection: .*database "no_such_database" does not exist'):
        ExistingServer(dsn=dsn).start()


def test_a_folder_too_deep_for_the_unix_socket_is_a_clear_error(tmp_path):
    deep = tmp_path / ("d" * 60) / "tenant-harness-pg-x"
    with pytest.raises(ServerStartError, match=r"too deep for its Unix socket .* PostgreSQL allows 107\)\. Hint: "):
        EmbeddedServer(base_dir=deep).start()
    assert not deep.exists()  # nothing made, nothing left
