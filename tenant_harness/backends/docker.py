"""The Docker backend: PostgreSQL in a container through testcontainers."""

from __future__ import annotations

import importlib.util

from ..endpoint import Endpoint, Server, wait_until_ready
from ..errors import ServerStartError


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
