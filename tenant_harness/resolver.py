"""One place that resolves, from a :class:`~tenant_harness.config.HarnessConfig`, where dbt and the
checks run (the target and its connection) and which dbt project runs there, for the CLI and the
pytest plugin alike.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import redshift
from . import state as state_file
from .config import HarnessConfig
from .endpoint import Endpoint
from .errors import HarnessError, ServerStartError
from .postmaster import serves
from .runner import DbtProject, default_project_dir, project_vars, read_project_file
from .server import ExistingServer


@dataclasses.dataclass(frozen=True)
class Target:
    """Where dbt and the verification SQL go: the connection dbt reads from its environment
    (``dbt_env``), the same connection for psycopg (``conninfo``), and the engine."""

    dbt_env: Mapping[str, str]
    conninfo: str
    engine: str  # postgres or redshift
    tenants: int | None = None  # as many as `up` generated, when known


def local_target(endpoint: Endpoint, database: str, *, schema: str, tenants: int | None = None) -> Target:
    """The target for database ``database`` on a PostgreSQL server, models built in ``schema``."""
    env = {**endpoint.dbt_env(database), "DBT_TARGET": "local", "DBT_PG_SCHEMA": schema}
    return Target(env, endpoint.conninfo(database), "postgres", tenants)


def resolve_target(config: HarnessConfig) -> Target:
    """The configured target: Redshift from its settings, else the server of --dsn /
    TENANT_HARNESS_DSN, else the one `tenant-harness up` started."""
    if config.target == "redshift":
        settings = redshift.load_settings()
        return Target(settings.dbt_env(config.schema), settings.conninfo(), "redshift")
    endpoint, database, tenants = connected(config)
    return local_target(endpoint, database, schema=config.schema, tenants=tenants)


def connected(config: HarnessConfig) -> tuple[Endpoint, str, int | None]:
    """The server, database and (when ``up`` generated them) tenant count to work with: --dsn /
    TENANT_HARNESS_DSN, else what ``up`` started."""
    if config.dsn:
        server = ExistingServer(dsn=config.dsn)
        return server.endpoint, server.endpoint.dbname, None
    saved = state_file.load()
    if saved is None:
        raise HarnessError(
            f"no server: `tenant-harness up` has not run in this project (no {state_file.state_path()}) "
            "and no DSN was given. Hint: run `tenant-harness up` first, or pass --dsn / set TENANT_HARNESS_DSN."
        )
    if server_gone(saved):
        raise ServerStartError(
            f"the embedded server `tenant-harness up` started ({saved.endpoint.redacted()}, pid {saved.pid}) "
            "is no longer running. Hint: tenant-harness down, then tenant-harness up."
        )
    # The state file never holds a password: it comes from the environment, as libpq's does.
    password = os.environ.get("PGPASSWORD", "")
    return dataclasses.replace(saved.endpoint, password=password), saved.database, saved.tenants


def server_gone(saved: state_file.HarnessState) -> bool:
    """Whether the embedded server ``up`` recorded has died (its pid no longer serves its folder)."""
    return saved.kind == "embedded" and bool(saved.pid and saved.base_dir) and not serves(saved.base_dir, saved.pid)


def project_dir(config: HarnessConfig) -> Path:
    """The dbt project to run: ``project_dir`` of the config (flag, TENANT_HARNESS_PROJECT_DIR,
    pytest ini, tenant-harness.toml), else the harness's own."""
    return Path(config.project_dir) if config.project_dir else default_project_dir()


def harness_vars(config: HarnessConfig, tenants: int | None = None) -> dict[str, Any]:
    """The vars the harness sets for ``config`` and ``tenants`` tenants (before the merge). The
    automatic raise of ``max_tenant_limit`` for big tenant sets never lowers a project's higher limit."""
    overrides = config.dbt_vars(tenants)
    processing = overrides.get("tenant_processing") or {}
    if config.max_tenant_limit is None and "max_tenant_limit" in processing:
        own = (read_project_file(project_dir(config)).get("vars") or {}).get("tenant_processing") or {}
        own_limit = own.get("max_tenant_limit")
        if isinstance(own_limit, int) and own_limit >= processing["max_tenant_limit"]:
            processing = {k: v for k, v in processing.items() if k != "max_tenant_limit"}
            overrides = {k: v for k, v in overrides.items() if k != "tenant_processing"}
            if processing:
                overrides["tenant_processing"] = processing
    return overrides


def dbt_vars(config: HarnessConfig, tenants: int | None = None) -> dict[str, Any]:
    """The --vars the harness passes for ``config``, each merged into the project's own value."""
    return project_vars(project_dir(config), harness_vars(config, tenants))


def open_project(config: HarnessConfig, target: Target, *, tenants: int | None = None, **kw: Any) -> DbtProject:
    """The configured dbt project bound to ``target``, with the vars the config implies (for
    ``tenants`` tenants, default the target's count). Close it (or use ``with``) when done."""
    return DbtProject(
        env=target.dbt_env,
        project_dir=project_dir(config),
        vars=harness_vars(config, target.tenants if tenants is None else tenants),
        **kw,
    )
