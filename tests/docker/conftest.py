"""The docker suite (pytest -m docker): docker-compose.yml through pytest-docker and the Docker backend
through testcontainers, on a real Docker engine.

The images come from TENANT_HARNESS_POSTGRES_IMAGE / TENANT_HARNESS_DBT_IMAGE when set (as
``eval "$(docker/images.sh)"`` sets them), else from running docker/images.sh once for the session
(which builds them when the official ones cannot be pulled). Without an engine, or without a compose
command, the tests are skipped naming why (TENANT_HARNESS_DOCKER_REQUIRED=1, as .ci/docker sets once
it has provided an engine, makes that an error instead).
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenant_harness.server import DockerServer, free_port

REPO = Path(__file__).resolve().parents[2]
IMAGES_SCRIPT = REPO / "docker" / "images.sh"

# Without the 'docker' extra the modules here cannot be imported: leave them out of the collection
# (so `pytest -m local` works with the 'test' extra alone), unless the suite is required.
MISSING = [m for m in ("docker", "testcontainers", "pytest_docker") if importlib.util.find_spec(m) is None]
if MISSING:
    if os.environ.get("TENANT_HARNESS_DOCKER_REQUIRED") == "1":
        raise pytest.UsageError(f"docker suite required, but {MISSING} missing. Hint: pip install -e '.[docker]'")
    collect_ignore_glob = ["test_*.py"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    ours = [item for item in items if here in Path(str(item.fspath)).parents]
    reason = DockerServer.unavailable_reason()
    if reason is None and compose_command() is None:
        reason = "neither `docker compose` nor `docker-compose` is installed. Hint: apt-get install docker-compose"
    if reason is None or not ours:
        return
    if os.environ.get("TENANT_HARNESS_DOCKER_REQUIRED") == "1":  # .ci/docker, after providing the engine
        raise pytest.UsageError(f"docker suite required but cannot run: {reason}")
    for item in ours:
        item.add_marker(pytest.mark.skip(reason=f"docker suite: {reason}. Hint: docker/engine.sh start"))


@pytest.fixture(scope="session")
def docker_images() -> dict[str, str]:
    """The postgres and dbt images for this session: from the environment, else from docker/images.sh."""
    names = ("TENANT_HARNESS_POSTGRES_IMAGE", "TENANT_HARNESS_DBT_IMAGE")
    if all(os.environ.get(n) for n in names):
        return {n: os.environ[n] for n in names}
    done = subprocess.run(["bash", str(IMAGES_SCRIPT)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"docker/images.sh failed (exit {done.returncode}):\n{done.stderr[-3000:]}", pytrace=False)
    images = {}
    for line in done.stdout.splitlines():  # export NAME=value lines
        name, _, value = line.removeprefix("export ").partition("=")
        images[name] = shlex.split(value)[0]
    assert set(names) <= set(images), done.stdout
    return images


@pytest.fixture(scope="session")
def postgres_image(docker_images) -> str:
    """The postgres:15(-compatible) image the Docker backend tests start."""
    return docker_images["TENANT_HARNESS_POSTGRES_IMAGE"]


def compose_command() -> str | None:
    """``docker compose`` when the plugin is there, else Debian's ``docker-compose``, else None."""
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True)
    if plugin.returncode == 0:
        return "docker compose"
    return "docker-compose" if shutil.which("docker-compose") else None


@pytest.fixture(scope="session")
def docker_compose_command() -> str:
    """pytest-docker: the compose command this machine has."""
    return compose_command() or "docker compose"  # without either, collection skipped the suite


@pytest.fixture(scope="session")
def compose_env(docker_images) -> Iterator[dict[str, str]]:
    """The environment docker-compose.yml reads: the images, a free host port, a password of our own."""
    env = {
        **docker_images,
        "POSTGRES_HOST_PORT": str(free_port()),
        "POSTGRES_PASSWORD": "compose-" + os.urandom(6).hex(),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        yield env


@pytest.fixture(scope="session")
def docker_compose_file(compose_env) -> str:
    """pytest-docker: the repository's own docker-compose.yml (with compose_env in the environment)."""
    return str(REPO / "docker-compose.yml")


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    """pytest-docker: a project name of this session's own."""
    return f"th-pytest-{os.getpid()}"


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    """pytest-docker: start both services detached (``--wait`` is compose v2 only; the tests wait for
    health themselves)."""
    return ["up -d"]


@pytest.fixture(scope="session")
def compose_guard(docker_compose_command, docker_compose_file, docker_compose_project_name) -> Iterator[None]:
    """``down -v`` for the session's project even when pytest-docker's ``up`` failed half way
    (pytest-docker runs its cleanup only after a successful setup)."""
    yield
    subprocess.run(
        [*docker_compose_command.split(), "-f", docker_compose_file, "-p", docker_compose_project_name, "down", "-v"],
        capture_output=True,
        cwd=REPO,
    )
