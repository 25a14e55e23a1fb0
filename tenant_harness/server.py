"""PostgreSQL servers for the harness: embedded (binaries from a pip wheel), existing (by DSN), Docker.

The pieces live apart: :mod:`tenant_harness.endpoint` (where a server listens, the common
:class:`Server` surface, DSN redaction), :mod:`tenant_harness.postmaster` (running and stopping
processes, reaping orphans) and :mod:`tenant_harness.backends` (one module per backend). This module
chooses a backend and re-exports those names, so ``from tenant_harness.server import ...`` keeps working.
"""

from __future__ import annotations

from .backends import DockerServer, EmbeddedServer, ExistingServer
from .backends.docker import reap_containers, remove_container
from .endpoint import Endpoint, Server, redact_dsn, wait_until_ready
from .errors import ServerStartError
from .postmaster import find_pg_bin, free_port, reap_orphans, scratch_root, stop_pid, stop_server_in

__all__ = [
    "BACKENDS",
    "DockerServer",
    "EmbeddedServer",
    "Endpoint",
    "ExistingServer",
    "Server",
    "find_pg_bin",
    "free_port",
    "reap_containers",
    "reap_orphans",
    "redact_dsn",
    "remove_container",
    "scratch_root",
    "start_server",
    "stop_pid",
    "stop_server_in",
    "wait_until_ready",
]

BACKENDS = ("embedded", "dsn", "docker")


def start_server(*, backend: str = "embedded", dsn: str | None = None, detached: bool = False) -> Server:
    """Start (or reach) a server. ``dsn`` wins over ``backend``: a given DSN is always used."""
    if dsn:
        return ExistingServer(dsn=dsn).start()
    if backend == "embedded":
        return EmbeddedServer(detached=detached).start()
    if backend == "docker":
        return DockerServer(detached=detached).start()
    raise ServerStartError(f"unknown backend {backend!r}. Hint: one of {', '.join(BACKENDS)} (dsn needs --dsn).")
