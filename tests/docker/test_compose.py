"""docker-compose.yml for real: pytest-docker brings it up (postgres with the seed's tenants, then the
dbt service's debug/run/test), and the README's own commands run end to end."""

from __future__ import annotations

import json
import os
import subprocess

import psycopg
import pytest

from tenant_harness.server import free_port
from tenant_harness.tenants import DEMO_TENANTS, expected_all_users, plan_tenants

from .conftest import REPO

pytestmark = pytest.mark.docker

ALL_USERS = (
    "select tenant_id, user_id, email, first_name, last_name, registration_date, last_login_date, "
    "account_status, subscription_tier, created_at, updated_at from analytics.all_users order by 1, 2"
)
COUNTS = "select tenant_id, count(*) from analytics.all_users group by 1 order by 1"
SEED_COUNTS = [(tenant, 2) for tenant in DEMO_TENANTS]


def compose(command: str, project: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``<compose command> -p project args`` in the repository, as a user would."""
    return subprocess.run(
        [*command.split(), "-p", project, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def inspect(container_id: str) -> dict:
    done = subprocess.run(["docker", "inspect", container_id], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)[0]


def container_of(docker_services, service: str) -> str:
    ids = docker_services._docker_compose.execute(f"ps -q {service}").decode().split()
    assert len(ids) == 1, (service, ids)
    return ids[0]


def test_compose_up_gives_two_users_per_tenant(compose_guard, docker_services, compose_env):
    postgres = container_of(docker_services, "postgres")
    dbt = container_of(docker_services, "dbt")

    def healthy() -> bool:
        health = inspect(postgres)["State"]["Health"]["Status"]
        assert health != "unhealthy", inspect(postgres)["State"]["Health"]["Log"][-3:]
        return health == "healthy"

    docker_services.wait_until_responsive(check=healthy, timeout=120, pause=1)
    # The port is published on the loopback address only.
    bindings = inspect(postgres)["HostConfig"]["PortBindings"]["5432/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": compose_env["POSTGRES_HOST_PORT"]}]
    port = docker_services.port_for("postgres", 5432)
    assert port == int(compose_env["POSTGRES_HOST_PORT"])

    # The dbt service (dbt debug && dbt run && dbt test) starts once postgres is healthy, then exits.
    docker_services.wait_until_responsive(
        check=lambda: inspect(dbt)["State"]["Status"] == "exited", timeout=600, pause=2
    )
    state = inspect(dbt)["State"]
    logs = subprocess.run(["docker", "logs", dbt], capture_output=True, text=True).stdout
    assert state["ExitCode"] == 0, logs[-4000:]

    conninfo = psycopg.conninfo.make_conninfo(
        host="127.0.0.1", port=port, user="dbt_user", password=compose_env["POSTGRES_PASSWORD"],
        dbname="multitenant_analytics",
    )  # fmt: skip
    with psycopg.connect(conninfo) as conn:
        assert conn.execute(COUNTS).fetchall() == SEED_COUNTS
        # Row for row what the generator says the seed's tenants hold after cleaning.
        assert conn.execute(ALL_USERS).fetchall() == expected_all_users(
            42, plan_tenants(list(DEMO_TENANTS), rows=2, seed=42)
        )
        assert conn.execute("show server_version_num").fetchone()[0].startswith("15")


@pytest.fixture
def readme_project(docker_compose_command, compose_env, monkeypatch):
    """A compose project of its own for the README's commands (on a port of its own: the session's
    project may still be up), removed (down -v) whatever happens."""
    project = f"th-readme-{os.getpid()}"
    monkeypatch.setenv("POSTGRES_HOST_PORT", str(free_port()))
    yield project
    compose(docker_compose_command, project, "down", "-v", timeout=120)


def test_readme_commands_run_end_to_end(docker_compose_command, readme_project):
    """docker compose up --abort-on-container-exit; run --rm dbt dbt show; down -v: as the README says."""
    up = compose(docker_compose_command, readme_project, "up", "--abort-on-container-exit")
    assert up.returncode == 0, (up.stdout + up.stderr)[-4000:]
    out = up.stdout + up.stderr
    assert "All checks passed!" in out  # dbt debug
    assert "Completed successfully" in out  # dbt run and dbt test
    ids = compose(docker_compose_command, readme_project, "ps", "-a", "-q", "dbt").stdout.split()
    assert [inspect(i)["State"]["ExitCode"] for i in ids] == [0]

    show = compose(
        docker_compose_command, readme_project, "run", "--rm", "dbt", "dbt", "show", "--select", "all_users",
        "--limit", "10",
    )  # fmt: skip
    assert show.returncode == 0, (show.stdout + show.stderr)[-4000:]
    shown = [line for line in show.stdout.splitlines() if line.startswith("|")]
    assert sorted({line.split("|")[1].strip() for line in shown[2:]}) == list(DEMO_TENANTS), (
        show.stdout
    )  # after the header

    counts = compose(
        docker_compose_command, readme_project, "exec", "-T", "postgres", "psql", "-U", "dbt_user", "-d",
        "multitenant_analytics", "-At", "-F", " ", "-c", COUNTS,
    )  # fmt: skip
    assert counts.returncode == 0, counts.stderr
    assert counts.stdout.split("\n")[:3] == [f"{tenant} {n}" for tenant, n in SEED_COUNTS]

    down = compose(docker_compose_command, readme_project, "down", "-v", timeout=120)
    assert down.returncode == 0, down.stderr
    left = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={readme_project}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert left.stdout.split() == []
