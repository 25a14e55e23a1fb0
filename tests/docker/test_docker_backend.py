"""`--backend docker` for real: DockerServer (testcontainers) against a Docker engine, the CLI's demo
end to end on it, and the container's removal on every way out: stop, a failed start, a failed
readiness wait, Ctrl-C, SIGTERM, and a killed harness (removed at the next start)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import docker
import docker.errors
import psycopg
import pytest

from tenant_harness.backends.docker import OWNER_LABEL, DockerServer, reap_containers
from tenant_harness.errors import ServerStartError
from tenant_harness.tenants import DEMO_TENANTS

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def client():
    c = docker.from_env()
    yield c
    c.close()


def exists(client, name: str) -> bool:
    try:
        client.containers.get(name)
        return True
    except docker.errors.NotFound:
        return False


def test_server_runs_postgres_15_on_loopback_and_is_removed_at_stop(client, postgres_image):
    server = DockerServer(image=postgres_image, password="docker-" + os.urandom(6).hex())
    with server.start():
        attrs = client.containers.get(server.name).attrs
        bindings = attrs["HostConfig"]["PortBindings"]["5432/tcp"]
        assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
        assert attrs["Config"]["Labels"][OWNER_LABEL].endswith(f":{os.getpid()}")
        with psycopg.connect(server.conninfo()) as conn:
            assert conn.execute("show server_version_num").fetchone()[0].startswith("15")
        # The password is required over TCP: a wrong one is refused.
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(server.endpoint.conninfo().replace(server.password, "wrong"), connect_timeout=5)
    assert not exists(client, server.name)


def test_image_defaults_to_the_environment_then_what_the_engine_has(monkeypatch, postgres_image):
    monkeypatch.setenv("TENANT_HARNESS_DOCKER_IMAGE", "example/pg:1")
    assert DockerServer().image == "example/pg:1"
    assert DockerServer(image="given:2").image == "given:2"
    monkeypatch.delenv("TENANT_HARNESS_DOCKER_IMAGE")
    assert DockerServer().image is None  # resolved at start
    assert DockerServer.default_image() in ("postgres:15", "tenant-harness/postgres:15")


def test_container_is_removed_when_it_cannot_start(client, docker_images):
    # The dbt image has no postgres: creating the container works, starting `postgres` fails.
    server = DockerServer(image=docker_images["TENANT_HARNESS_DBT_IMAGE"])
    with pytest.raises(ServerStartError, match="could not start a container"):
        server.start()
    assert not exists(client, server.name)


def test_container_is_removed_when_the_readiness_wait_fails(client, postgres_image):
    # initdb alone takes longer than this: the wait gives up while the server is still starting.
    server = DockerServer(image=postgres_image, password="docker-" + os.urandom(6).hex(), ready_timeout=0.2)
    with pytest.raises(ServerStartError, match=r"did not answer 'select 1'") as info:
        server.start()
    assert server.name in str(info.value)
    assert server.password not in str(info.value)
    assert not exists(client, server.name)


HARNESS = textwrap.dedent(
    """
    import sys, time
    from tenant_harness.server import DockerServer
    server = DockerServer(image=sys.argv[1])
    print("name", server.name, flush=True)
    server.start()
    with server:
        print("ready", flush=True)
        time.sleep(120)
    """
)


def start_harness(image: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HARNESS, image], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline().split()
    assert line[:1] == ["name"], (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, line[1]


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize("when", ["starting", "ready"])
def test_ctrl_c_removes_the_container(client, postgres_image, when):
    proc, name = start_harness(postgres_image)
    try:
        if when == "starting":
            wait_for(lambda: exists(client, name))  # created; the readiness wait is under way
        else:
            assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0  # KeyboardInterrupt
    assert not exists(client, name)


def test_sigterm_during_demo_removes_the_container(client, postgres_image, tmp_path):
    env = {**os.environ, "TENANT_HARNESS_DOCKER_IMAGE": postgres_image}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenant_harness.cli", "demo", "--backend", "docker", "--tenants", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        for line in proc.stdout:
            if "dbt debug" in line:  # the server is up and loaded
                break
        owned = client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}"})
        ours = [c for c in owned if c.labels[OWNER_LABEL].endswith(f":{proc.pid}")]
        assert len(ours) == 1
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert not exists(client, ours[0].name)


def test_killed_harness_leaves_a_container_the_next_start_removes(client, postgres_image):
    proc, name = start_harness(postgres_image)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.kill()  # SIGKILL: no cleanup runs
        proc.wait(timeout=30)
        assert exists(client, name)
    finally:
        proc.kill()
    try:
        assert name in reap_containers()
    finally:
        if exists(client, name):
            client.containers.get(name).remove(force=True, v=True)
    assert not exists(client, name)


def test_demo_on_the_docker_backend_end_to_end(client, postgres_image, tmp_path):
    """start, generate tenants, dbt debug/run/test, verify, stop: the CLI as a user runs it."""
    env = {**os.environ, "TENANT_HARNESS_DOCKER_IMAGE": postgres_image}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tenant_harness.cli", "demo", "--backend", "docker", "--report", str(tmp_path / "r")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    # The generator's truth for the seed's tenants: 2 valid users each; the demo's checks passed.
    assert report["rows_per_tenant"] == dict.fromkeys(DEMO_TENANTS, 2)
    assert report["rows_out"] == 2 * len(DEMO_TENANTS)
    assert "== verify" in out
    left = client.containers.list(all=True, filters={"label": OWNER_LABEL})
    assert not [c.name for c in left if c.labels[OWNER_LABEL].endswith(f":{proc.pid}")]


def test_up_run_verify_down_on_the_docker_backend(client, postgres_image, tmp_path):
    """`up` leaves its container running for later commands; `down` removes it."""
    env = {**os.environ, "TENANT_HARNESS_DOCKER_IMAGE": postgres_image, "TENANT_HARNESS_STATE_DIR": str(tmp_path)}
    env.pop("TENANT_HARNESS_DSN", None)

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "tenant_harness.cli", *args], capture_output=True, text=True, env=env, cwd=tmp_path
        )
        assert done.returncode == 0, (args, (done.stdout + done.stderr)[-3000:])
        return done.stdout

    cli("up", "--backend", "docker", "--tenants", "5", "--rows", "4")
    name = json.loads((tmp_path / "state.json").read_text())["container"]
    try:
        container = client.containers.get(name)
        assert container.status == "running"
        assert container.labels[OWNER_LABEL].endswith(":detached")
        reap_containers()  # a detached container is not an orphan
        assert exists(client, name)
        cli("run")
        cli("verify")
        assert "down: stopped docker server" in cli("down")
        assert not exists(client, name)
    finally:
        if exists(client, name):
            client.containers.get(name).remove(force=True, v=True)
