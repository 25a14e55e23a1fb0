"""The Docker backend: PostgreSQL in a container through testcontainers."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import time
import uuid

from ..endpoint import Endpoint, Server, _redact_text, wait_until_ready
from ..errors import ServerStartError
from ..postmaster import FOLDER_PREFIX, alive

# The official image, and the compatible one docker/images.sh builds where it cannot be pulled.
OFFICIAL_POSTGRES_IMAGE = "postgres:15"
BUILT_POSTGRES_IMAGE = "tenant-harness/postgres:15"
# Containers started by DockerServer carry this label: "<hostname>:<pid>" of the owning harness, or
# "<hostname>:detached" for one that `tenant-harness up` leaves running until `down`.
OWNER_LABEL = "org.tenant-harness.owner"
_DOCKER_READY_TIMEOUT_S = 60.0


def _docker_client(timeout: int = 10):
    import docker  # a dependency of testcontainers (the 'docker' extra)

    return docker.from_env(timeout=timeout)


class DockerServer(Server):
    """PostgreSQL in a container through testcontainers (needs a Docker engine and the 'docker' extra).

    The image is ``image``, else ``TENANT_HARNESS_DOCKER_IMAGE``, else postgres:15 when the engine has
    it, else the compatible tenant-harness/postgres:15 that docker/images.sh builds, else postgres:15
    (pulled). Its port is published on 127.0.0.1 only; without a ``password`` logins are trusted, as
    on the embedded server. testcontainers' reaper container (Ryuk) is not
    used (it comes from a registry); the harness removes its containers itself: on :meth:`stop`, when
    the start or the readiness wait fails, on Ctrl-C, and, for a harness that was killed outright,
    at the next start (containers whose owner process is gone, found by their label).
    """

    kind = "docker"

    def __init__(
        self,
        *,
        image: str | None = None,
        user: str = "postgres",
        password: str | None = None,
        detached: bool = False,
        ready_timeout: float = _DOCKER_READY_TIMEOUT_S,
    ):
        self.image = image or os.environ.get("TENANT_HARNESS_DOCKER_IMAGE") or None
        self.user = user
        self.password = password or ""
        self.detached = detached
        self.ready_timeout = ready_timeout
        self.name = f"{FOLDER_PREFIX}{uuid.uuid4().hex[:12]}"
        self.container = None
        self.endpoint = Endpoint(host="127.0.0.1", port=0, user=user)
        self.startup_seconds: float | None = None

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why the Docker backend cannot run here, or None when it can."""
        if importlib.util.find_spec("testcontainers") is None:
            return "testcontainers is not installed (pip install 'tenant-harness[docker]')"
        try:
            _docker_client(timeout=3).ping()
        except Exception as exc:  # any failure to reach the engine means "no Docker here"
            return f"no Docker engine answers ({type(exc).__name__}: {exc})"
        return None

    @staticmethod
    def default_image(client=None) -> str:
        """postgres:15 if the engine has it, else the image docker/images.sh built, else postgres:15."""
        import docker.errors

        client = client or _docker_client()
        for candidate in (OFFICIAL_POSTGRES_IMAGE, BUILT_POSTGRES_IMAGE):
            try:
                client.images.get(candidate)
                return candidate
            except docker.errors.ImageNotFound:
                continue
        return OFFICIAL_POSTGRES_IMAGE

    def start(self) -> DockerServer:
        """Start the container and wait until a query answers; remove it if anything fails."""
        reason = self.unavailable_reason()
        if reason:
            raise ServerStartError(f"Docker backend unavailable: {reason}. Hint: use --backend embedded.")
        from testcontainers.core.config import testcontainers_config
        from testcontainers.core.container import DockerContainer

        testcontainers_config.ryuk_disabled = True  # we clean up ourselves; Ryuk's image needs a registry
        started = time.perf_counter()
        try:
            reap_containers()
            self.image = self.image or self.default_image()
            container = (
                DockerContainer(self.image)
                .with_name(self.name)
                .with_envs(
                    POSTGRES_USER=self.user,
                    POSTGRES_PASSWORD=self.password,
                    # Without a password logins are trusted, as on the embedded server.
                    POSTGRES_HOST_AUTH_METHOD="scram-sha-256" if self.password else "trust",
                    POSTGRES_DB="postgres",
                    POSTGRES_INITDB_ARGS="--no-sync",
                )
                # Throwaway data, as the embedded server's: durability off.
                .with_command(
                    ["postgres", "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"]
                )  # fmt: skip
                .with_kwargs(labels={OWNER_LABEL: _owner_tag(self.detached)})
            )
            container.ports["5432/tcp"] = ("127.0.0.1",)  # docker-py: this address, any free port
            self.container = container
            try:
                container.start()
            except Exception as exc:
                raise ServerStartError(
                    f"could not start a container from {self.image!r}: {exc}. Hint: pull or build the image "
                    '(eval "$(docker/images.sh)"), or set TENANT_HARNESS_DOCKER_IMAGE to a postgres:15-like one.'
                ) from exc
            port = int(container.get_docker_client().port(container.get_container_id(), 5432))
            self.endpoint = Endpoint(host="127.0.0.1", port=port, user=self.user, password=self.password)
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - started
        return self

    def _wait_until_ready(self) -> None:
        wrapped = self.container.get_wrapped_container()
        deadline = time.monotonic() + self.ready_timeout
        while True:
            wrapped.reload()
            if wrapped.status in ("exited", "dead"):
                code = wrapped.attrs["State"].get("ExitCode")
                raise ServerStartError(
                    f"container {self.name} ({self.image}) exited with code {code} before accepting "
                    f"connections.{self._log_tail()}\nHint: the image must behave like postgres:15 "
                    "(POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB)."
                )
            try:
                wait_until_ready(self.conninfo(), timeout=min(2.0, max(deadline - time.monotonic(), 0.1)))
                return
            except ServerStartError as exc:
                if time.monotonic() >= deadline:
                    raise ServerStartError(f"container {self.name} ({self.image}): {exc}{self._log_tail()}") from None

    def _log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(Exception):
            text = self.container.get_wrapped_container().logs(tail=lines).decode(errors="replace")
            return "\nContainer log tail:\n  " + "\n  ".join(_redact_text(text, self.conninfo()).splitlines())
        return ""

    def stop(self) -> None:
        """Remove the container and its volume. Safe to call twice, and before the start finished."""
        if self.container is None:
            return
        remove_container(self.name)
        with contextlib.suppress(Exception):
            self.container.get_docker_client().client.close()
        self.container = None


def _owner_tag(detached: bool) -> str:
    return f"{socket.gethostname()}:{'detached' if detached else os.getpid()}"


def remove_container(name: str) -> bool:
    """Remove the container ``name`` (and its anonymous volumes) if it exists; whether it did."""
    import docker.errors

    try:
        _docker_client().containers.get(name).remove(force=True, v=True)
    except docker.errors.NotFound:
        return False
    return True


def reap_containers() -> list[str]:
    """Remove the containers of harness processes on this host that are gone (e.g. SIGKILL); the
    containers of `tenant-harness up` (detached) are left to `tenant-harness down`."""
    reaped = []
    host = socket.gethostname()
    for container in _docker_client().containers.list(all=True, filters={"label": OWNER_LABEL}):
        owner_host, _, owner = container.labels.get(OWNER_LABEL, "").rpartition(":")
        if owner_host != host or not owner.isdigit() or alive(int(owner)):
            continue
        with contextlib.suppress(Exception):
            container.remove(force=True, v=True)
            reaped.append(container.name)
    return reaped
