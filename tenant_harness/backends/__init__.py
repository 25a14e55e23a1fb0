"""Where PostgreSQL comes from: one module per backend, each a :class:`~tenant_harness.endpoint.Server`."""

from .docker import DockerServer
from .embedded import EmbeddedServer
from .existing import ExistingServer

__all__ = ["DockerServer", "EmbeddedServer", "ExistingServer"]
