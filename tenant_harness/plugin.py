"""pytest plugin: a PostgreSQL server per session, tenant sets loaded once into template databases and
cloned per test, and dbt bound to the clone. The only module that imports pytest.

Markers (declared in the project's pytest.ini, also registered here):
    @pytest.mark.tenants(n=100, rows=20, seed=7, jitter=0.3, null_id_every=10)
    @pytest.mark.tenants(tenant_names=("Tenant_A", 'tenant_x"y'), rows=3)
        the tenant set the ``tenant_database`` fixture clones (default: the seed's tenant_a..c x 2)
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from . import redshift
from .config import HarnessConfig
from .database import create_database, drop_database
from .errors import ServerStartError
from .runner import DbtProject, DbtResult
from .server import DockerServer, Endpoint, Server, start_server
from .tenants import DEMO_TENANTS, DatasetTruth, generate_tenants


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tenant-harness")
    group.addoption(
        "--tenant-dsn",
        default=None,
        help="Run local suites against this existing PostgreSQL (default: TENANT_HARNESS_DSN, "
        "else an embedded server).",
    )
    group.addoption(
        "--tenant-backend",
        default=None,
        choices=("embedded", "docker"),
        help="Server to start when no DSN is given (default: TENANT_HARNESS_BACKEND or embedded).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tenants(n, rows, seed, jitter, null_id_every): tenant set to clone")
    _load_hypothesis_profile()


def _load_hypothesis_profile() -> None:
    """Hypothesis profiles by HYPOTHESIS_PROFILE: dev (default, quick), ci (more examples)."""
    try:
        from hypothesis import settings
    except ImportError:
        return
    settings.register_profile("dev", max_examples=50)
    settings.register_profile("ci", max_examples=300, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = redshift.missing_settings()
    if missing:
        _skip(items, "redshift", f"Redshift suite needs {', '.join(missing)} (not set)")
    if config.getoption("--tenant-backend") == "docker" and not config.getoption("--tenant-dsn"):
        reason = DockerServer.unavailable_reason()
        if reason:
            _skip(items, "local", f"Docker backend: {reason}")


def _skip(items: list[pytest.Item], marker: str, reason: str) -> None:
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if marker in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def harness_config(pytestconfig: pytest.Config) -> HarnessConfig:
    """The session's settings: --tenant-dsn / --tenant-backend over TENANT_HARNESS_* variables."""
    return HarnessConfig.build(
        dsn=pytestconfig.getoption("--tenant-dsn"),
        backend=pytestconfig.getoption("--tenant-backend"),
    )


@pytest.fixture(scope="session")
def tenant_server(harness_config: HarnessConfig) -> Iterator[Server]:
    """A PostgreSQL server for the whole session: embedded by default, stopped (and its folder
    removed) at the end; an existing one when a DSN is given."""
    try:
        server = start_server(backend=harness_config.backend, dsn=harness_config.dsn)
    except ServerStartError as exc:
        pytest.fail(f"could not start the test server: {exc}", pytrace=False)
    with server:
        yield server


@dataclass(frozen=True)
class TenantSet:
    """The parameters of a generated tenant set; the key of its template database."""

    n: int = 3
    rows: int = 2
    seed: int = 42
    jitter: float = 0.0
    null_id_every: int = 0
    tenant_names: tuple[str, ...] | None = None  # explicit schema names instead of n

    @property
    def template_name(self) -> str:
        # A digest, not the names: schema names may hold anything, database names should not.
        digest = hashlib.sha1(repr(self).encode()).hexdigest()[:12]
        return f"th_tpl_{len(self.names) if self.tenant_names else self.n}_{self.rows}_{digest}"

    @property
    def names(self) -> Any:
        if self.tenant_names is not None:
            return list(self.tenant_names)
        return DEMO_TENANTS if self.n == 3 else self.n


@dataclass
class TemplateFactory:
    """Builds each tenant set once per session into a template database; clones are cheap."""

    endpoint: Endpoint
    truths: dict[TenantSet, DatasetTruth] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)

    def template(self, spec: TenantSet) -> tuple[str, DatasetTruth]:
        """The template database for ``spec`` (built on first use) and its truth."""
        if spec not in self.truths:
            name = spec.template_name
            drop_database(self.endpoint, name)
            create_database(self.endpoint, name)
            self.created.append(name)
            self.truths[spec] = generate_tenants(
                self.endpoint.conninfo(name), spec.names, spec.rows, spec.seed,
                jitter=spec.jitter, null_id_every=spec.null_id_every,
            )  # fmt: skip
        return spec.template_name, self.truths[spec]

    def clone(self, spec: TenantSet, name: str | None = None) -> TenantDatabase:
        """A fresh database holding ``spec``'s tenants, cloned from its template."""
        template, truth = self.template(spec)
        name = name or f"th_test_{uuid.uuid4().hex[:12]}"
        create_database(self.endpoint, name, template=template)
        return TenantDatabase(endpoint=self.endpoint, name=name, truth=truth, spec=spec)

    def drop_all(self) -> None:
        for name in self.created:
            drop_database(self.endpoint, name)


@dataclass(frozen=True)
class TenantDatabase:
    """A database with generated tenants: where it is, and the generator's truth about it."""

    endpoint: Endpoint
    name: str
    truth: DatasetTruth
    spec: TenantSet

    @property
    def conninfo(self) -> str:
        return self.endpoint.conninfo(self.name)

    def dbt_env(self) -> dict[str, str]:
        return self.endpoint.dbt_env(self.name)


@pytest.fixture(scope="session")
def tenant_templates(tenant_server: Server) -> Iterator[TemplateFactory]:
    """Session-wide factory of template databases, one per tenant set; dropped at the end."""
    factory = TemplateFactory(tenant_server.endpoint)
    yield factory
    factory.drop_all()


def _tenant_set(request: pytest.FixtureRequest) -> TenantSet:
    if hasattr(request, "param") and isinstance(request.param, TenantSet):
        return request.param
    marker = request.node.get_closest_marker("tenants")
    if marker is None:
        return TenantSet()
    return TenantSet(*marker.args, **marker.kwargs)


@pytest.fixture
def tenant_database(request: pytest.FixtureRequest, tenant_templates: TemplateFactory) -> Iterator[TenantDatabase]:
    """A fresh database with the tenant set of the test's ``tenants`` marker (or indirect param),
    cloned from its template; dropped after the test."""
    db = tenant_templates.clone(_tenant_set(request))
    try:
        yield db
    finally:
        drop_database(db.endpoint, db.name)


@pytest.fixture(scope="session")
def dbt_work_dir(tmp_path_factory: pytest.TempPathFactory):
    """dbt's target/ and logs/ for the session, shared so dbt can parse partially between tests."""
    return tmp_path_factory.mktemp("dbt")


@pytest.fixture
def dbt_project(tenant_database: TenantDatabase, harness_config: HarnessConfig, dbt_work_dir) -> Iterator[DbtProject]:
    """The dbt project bound to ``tenant_database`` (quiet; private target/ and logs/), with the
    session config's vars (the project's tenant safety limit raised to fit the set)."""
    with DbtProject(
        env=tenant_database.dbt_env(),
        project_dir=harness_config.project_dir,
        vars=harness_config.dbt_vars(len(tenant_database.truth.tenants)),
        work_dir=dbt_work_dir,
        quiet=True,
    ) as project:
        yield project


@pytest.fixture
def dbt_run(dbt_project: DbtProject) -> DbtResult:
    """The result of ``dbt run`` on ``tenant_database`` (raises DbtRunError, naming the failing
    nodes, if the run fails)."""
    return dbt_project.run()
