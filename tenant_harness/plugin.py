"""pytest plugin: a PostgreSQL server per session, tenant sets loaded once into template databases and
cloned per test, and dbt bound to the clone. The only module that imports pytest.

It declares options, markers and fixtures (and factories for more of them), and imposes nothing else
on a project that installs it: no Hypothesis profile, no skipped test unless the project opts in with
the ini option ``tenant_harness_skip_unavailable = true``.

Markers (registered here):
    @pytest.mark.tenants(n=100, rows=20, seed=7, jitter=0.3, null_id_every=10)
    @pytest.mark.tenants(tenant_names=("Tenant_A", 'tenant_x"y'), rows=3)
    @pytest.mark.tenants(tenant_names=("acme", "globex"), tables=[orders_spec, "users"])
        the tenant set the ``tenant_database`` fixture clones (default: the seed's tenant_a..c x 2)
    local, redshift, scale: where a test runs (see ``pytest --markers``)

Fixture factories, for fixtures of any scope and tenant set (assign the result to a module-level name,
which becomes the fixture's name)::

    from tenant_harness.plugin import dbt_project_factory, tenant_database_factory

    big_tenants = tenant_database_factory(n=1000, rows=5, scope="module")
    big_project = dbt_project_factory("big_tenants", scope="module")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from . import redshift
from .config import HarnessConfig
from .errors import ServerStartError
from .resolver import local_target, open_project
from .runner import DbtProject, DbtResult, merge_vars
from .server import DockerServer, Server, start_server
from .templates import TemplateFactory, TenantDatabase, TenantSet

__all__ = ["TemplateFactory", "TenantDatabase", "TenantSet", "dbt_project_factory", "tenant_database_factory"]

_MARKERS = (
    "tenants(n, rows, seed, jitter, null_id_every, tenant_names, tables): the tenant set tenant_database clones",
    "local: runs on this machine against a local PostgreSQL (embedded by default, or TENANT_HARNESS_DSN)",
    "redshift: runs against a real Amazon Redshift cluster (needs TENANT_HARNESS_REDSHIFT_* settings)",
    "scale: large tenant counts (thousands of schemas)",
)


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
    group.addoption(
        "--tenant-project-dir",
        default=None,
        help="The dbt project dbt_project runs (default: TENANT_HARNESS_PROJECT_DIR, else the ini option "
        "tenant_harness_project_dir, else project_dir in tenant-harness.toml, else the harness's own).",
    )
    parser.addini(
        "tenant_harness_project_dir",
        "The dbt project dbt_project runs, relative to the ini file's folder.",
        default=None,
    )
    parser.addini(
        "tenant_harness_skip_unavailable",
        "Skip `redshift` tests when the Redshift settings are missing, and `local` ones when "
        "--tenant-backend docker has no Docker engine (default: false, they run and fail).",
        type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    for line in _MARKERS:
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getini("tenant_harness_skip_unavailable"):
        return
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
        if item.get_closest_marker(marker) is not None:  # a marker, not any keyword (folder names are)
            item.add_marker(skip)


def _ini_project_dir(config: pytest.Config) -> str | None:
    value = config.getini("tenant_harness_project_dir")
    if not value:
        return None
    base = config.inipath.parent if config.inipath else config.rootpath
    return str(base / Path(value))


@pytest.fixture(scope="session")
def harness_config(pytestconfig: pytest.Config) -> HarnessConfig:
    """The session's settings: --tenant-dsn / --tenant-backend / --tenant-project-dir over
    TENANT_HARNESS_* variables over the ini option tenant_harness_project_dir over tenant-harness.toml."""
    return HarnessConfig.build(
        dsn=pytestconfig.getoption("--tenant-dsn"),
        backend=pytestconfig.getoption("--tenant-backend"),
        project_dir=pytestconfig.getoption("--tenant-project-dir"),
        ini={"project_dir": _ini_project_dir(pytestconfig)},
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


def tenant_database_factory(
    tenant_set: TenantSet | None = None,
    *,
    scope: str = "function",
    templates: str = "tenant_templates",
    doc: str | None = None,
    **spec: Any,
) -> Callable[..., Any]:
    """A fixture of ``scope`` yielding a fresh :class:`TenantDatabase`, cloned from the template of
    ``tenant_set`` (or of ``TenantSet(**spec)``; with neither, of the nearest ``tenants`` marker or
    indirect parameter) and dropped when the scope ends. ``templates`` names the
    :class:`TemplateFactory` fixture to clone from."""
    fixed = tenant_set or (TenantSet(**spec) if spec else None)

    def _tenant_database(request: pytest.FixtureRequest) -> Iterator[TenantDatabase]:
        factory: TemplateFactory = request.getfixturevalue(templates)
        db = factory.clone(fixed or _tenant_set(request))
        try:
            yield db
        finally:
            factory.drop(db)

    _tenant_database.__doc__ = doc or f"A {scope}-scoped tenant database ({fixed or 'from the tenants marker'})."
    return pytest.fixture(scope=scope)(_tenant_database)


def dbt_project_factory(
    database: str = "tenant_database",
    *,
    scope: str = "function",
    project_dir: str | Path | None = None,
    vars: Mapping[str, Any] | None = None,
    doc: str | None = None,
) -> Callable[..., Any]:
    """A fixture of ``scope`` yielding a :class:`DbtProject` bound to the :class:`TenantDatabase`
    fixture named ``database``: the session's project (``harness_config``) or ``project_dir``, with
    the session's vars and then ``vars``, each merged into the project's own. Quiet; dbt's target/
    and logs/ in the session's ``dbt_work_dir``; no JSON artifacts (see ``DbtProject(artifacts=)``)."""

    def _dbt_project(request: pytest.FixtureRequest) -> Iterator[DbtProject]:
        db: TenantDatabase = request.getfixturevalue(database)
        config: HarnessConfig = request.getfixturevalue("harness_config")
        if project_dir is not None:
            config = dataclasses.replace(config, project_dir=Path(project_dir))
        target = local_target(db.endpoint, db.name, schema=config.schema, tenants=len(db.truth.tenants))
        work_dir = request.getfixturevalue("dbt_work_dir")
        with open_project(config, target, work_dir=work_dir, quiet=True, artifacts=False) as project:
            project.vars = merge_vars(project.vars, dict(vars or {}))
            yield project

    _dbt_project.__doc__ = doc or f"A {scope}-scoped dbt project bound to the {database!r} fixture's database."
    return pytest.fixture(scope=scope)(_dbt_project)


tenant_database = tenant_database_factory(
    doc="A fresh database with the tenant set of the test's ``tenants`` marker (or indirect param), cloned "
    "from its template; dropped after the test. Its ``query(sql, params)`` and ``scalar(...)`` run SQL on "
    "it; ``truth`` is the generator's truth about its rows."
)


@pytest.fixture(scope="session")
def dbt_work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dbt's target/ and logs/ for the session, shared so dbt can parse partially between tests."""
    return tmp_path_factory.mktemp("dbt")


dbt_project = dbt_project_factory(
    doc="The dbt project (the harness's own, or --tenant-project-dir / TENANT_HARNESS_PROJECT_DIR / ini "
    "tenant_harness_project_dir / toml project_dir) bound to ``tenant_database`` (quiet; private target/ "
    "and logs/), with the session config's vars merged into the project's own (the tenant safety limit "
    "raised to fit the set)."
)


@pytest.fixture
def dbt_run(dbt_project: DbtProject) -> DbtResult:
    """The result of ``dbt run`` on ``tenant_database`` (raises DbtRunError, naming the failing
    nodes, if the run fails)."""
    return dbt_project.run()


@pytest.fixture
def tenant_query(tenant_database: TenantDatabase) -> Callable[..., list[tuple]]:
    """``tenant_query(sql, params=None)``: the rows of a query on ``tenant_database``, each call on a
    connection of its own (committed), so tests need not open psycopg connections themselves."""
    return tenant_database.query
