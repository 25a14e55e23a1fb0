"""The Docker path (docker-compose.yml, docker/init/, docker/make_init_sql.py), checked without Docker
(tests/docker/ runs it on a real engine). The compose file is read as YAML and compared with dbt/profiles.yml;
the init SQL is re-rendered from the generator and then run on the embedded server, and dbt builds
all_users from it with the dbt service's environment."""

from __future__ import annotations

import importlib.util
import re
import uuid
from pathlib import Path

import jinja2
import psycopg
import pytest
import yaml

from tenant_harness.database import create_database, drop_database
from tenant_harness.runner import DbtProject, default_project_dir
from tenant_harness.server import DockerServer
from tenant_harness.tenants import DEMO_TENANTS, expected_all_users, plan_tenants

pytestmark = pytest.mark.local

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
INIT_SQL = REPO / "docker" / "init" / "01-tenants.sql"
PROFILES = REPO / "dbt" / "profiles.yml"


def make_init_sql():
    spec = importlib.util.spec_from_file_location("make_init_sql", REPO / "docker" / "make_init_sql.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def interpolate(value, env: dict[str, str]) -> str:
    """Compose's variable substitution for the forms used: ${VAR}, ${VAR:-default}, $$."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(3)
        return env.get(name) or (default if default is not None else "")

    return re.sub(r"\$\$|\$\{(\w+)(:-([^}]*))?\}", sub, str(value))


def service_env(compose: dict, service: str, env: dict[str, str] | None = None) -> dict[str, str]:
    raw = compose["services"][service]["environment"]
    if isinstance(raw, list):  # the KEY=value list form
        raw = dict(item.split("=", 1) for item in raw)
    return {k: interpolate(v, env or {}) for k, v in raw.items()}


def render_profile(env: dict[str, str]) -> dict:
    """dbt/profiles.yml's `local` output rendered the way dbt does, with ``env`` as the environment."""
    jinja = jinja2.Environment(undefined=jinja2.StrictUndefined)
    jinja.globals["env_var"] = lambda name, default=None: env.get(name, default)
    jinja.filters["as_number"] = lambda v: int(v) if str(v).isdigit() else float(v)

    def render(node):
        if isinstance(node, dict):
            return {k: render(v) for k, v in node.items()}
        if isinstance(node, str) and "{{" in node:
            text = jinja.from_string(node).render()
            return int(text) if text.isdigit() else text
        return node

    profile = render(yaml.safe_load(PROFILES.read_text())["multitenant_analytics"])
    return profile["outputs"][profile["target"]]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_has_postgres_and_dbt_services(compose):
    assert {"postgres", "dbt"} <= set(compose["services"])
    postgres, dbt = compose["services"]["postgres"], compose["services"]["dbt"]
    # The official images by default; the ones docker/images.sh builds through the environment.
    assert interpolate(postgres["image"], {}) == "postgres:15"
    assert interpolate(postgres["image"], {"TENANT_HARNESS_POSTGRES_IMAGE": "x:1"}) == "x:1"
    assert any(p.endswith(":5432") for p in map(str, postgres["ports"]))
    assert "./docker/init:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    assert interpolate(dbt["image"], {}) == "python:3.11-slim"
    assert interpolate(dbt["image"], {"TENANT_HARNESS_DBT_IMAGE": "y:2"}) == "y:2"
    assert any(v.split(":")[0] == "./dbt" for v in dbt["volumes"])
    assert dbt["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The dbt versions pyproject.toml pins are the ones the container installs.
    pins = re.findall(r'"((?:dbt-core|dbt-postgres)[^"]*)"', (REPO / "pyproject.toml").read_text())
    assert len(pins) == 2
    installs = " ".join(map(str, dbt["entrypoint"]))
    assert all(f'"{pin}"' in installs for pin in pins), (pins, installs)


def profile_env_vars() -> set[str]:
    """The variables dbt/profiles.yml reads for the target selector and the `local` output."""
    profile = yaml.safe_load(PROFILES.read_text())["multitenant_analytics"]
    text = " ".join(map(str, [profile["target"], *profile["outputs"]["local"].values()]))
    return set(re.findall(r"env_var\(\s*'(\w+)'", text))


def test_dbt_service_sets_what_profiles_yml_reads(compose):
    read = profile_env_vars()
    assert {"DBT_PG_HOST", "DBT_PG_PORT", "DBT_PG_USER", "DBT_ENV_SECRET_PG_PASSWORD", "DBT_PG_DBNAME"} <= read
    for env in ({}, {"POSTGRES_PASSWORD": "from-the-environment"}):
        dbt_env = service_env(compose, "dbt", env)
        pg_env = service_env(compose, "postgres", env)
        assert read <= set(dbt_env), f"not set in the dbt service: {sorted(read - set(dbt_env))}"
        output = render_profile(dbt_env)
        assert output["type"] == "postgres"
        assert output["host"] == "postgres" and output["host"] in compose["services"]
        assert output["port"] == 5432
        assert output["user"] == pg_env["POSTGRES_USER"]
        assert output["dbname"] == pg_env["POSTGRES_DB"]
        assert output["password"] == pg_env["POSTGRES_PASSWORD"] != ""
    assert service_env(compose, "dbt", {"POSTGRES_PASSWORD": "s"})["DBT_ENV_SECRET_PG_PASSWORD"] == "s"


def test_postgres_service_matches_the_profiles_defaults(compose):
    """Run by hand with no DBT_* variables set, dbt/profiles.yml connects as the compose user to the
    compose database."""
    defaults = render_profile({})
    pg_env = service_env(compose, "postgres")
    assert (defaults["user"], defaults["dbname"]) == (pg_env["POSTGRES_USER"], pg_env["POSTGRES_DB"])
    assert (defaults["user"], defaults["dbname"]) == ("dbt_user", "multitenant_analytics")
    assert defaults["port"] == 5432


def test_init_sql_is_up_to_date():
    assert INIT_SQL.read_text() == make_init_sql().render(), (
        "docker/init/01-tenants.sql is out of date: run python docker/make_init_sql.py"
    )


def test_init_sql_loads_and_dbt_builds_the_seeds_counts(tenant_server, compose, tmp_path):
    name = f"th_docker_{uuid.uuid4().hex[:12]}"
    create_database(tenant_server.endpoint, name)
    try:
        conninfo = tenant_server.endpoint.conninfo(name)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(INIT_SQL.read_text())
        # The dbt service's environment, pointed at this server instead of the `postgres` service.
        env = {**service_env(compose, "dbt"), **tenant_server.endpoint.dbt_env(name)}
        env = {k: v for k, v in env.items() if k.startswith("DBT_") and k not in
               ("DBT_PROFILES_DIR", "DBT_TARGET_PATH", "DBT_LOG_PATH")}  # fmt: skip
        with DbtProject(env=env, project_dir=default_project_dir(), work_dir=tmp_path / "dbt", quiet=True) as dbt:
            dbt.run()
            dbt.test()
        with psycopg.connect(conninfo) as conn:
            counts = conn.execute(
                "select tenant_id, count(*) from analytics.all_users group by 1 order by 1"
            ).fetchall()
            rows = conn.execute(
                "select tenant_id, user_id, email, first_name, last_name, registration_date, last_login_date, "
                "account_status, subscription_tier, created_at, updated_at from analytics.all_users order by 1, 2"
            ).fetchall()
    finally:
        drop_database(tenant_server.endpoint, name)
    assert counts == [("tenant_a", 2), ("tenant_b", 2), ("tenant_c", 2)]
    assert rows == expected_all_users(42, plan_tenants(list(DEMO_TENANTS), rows=2, seed=42))


def test_docker_backend_says_why_it_cannot_run():
    reason = DockerServer.unavailable_reason()
    if reason is None:
        pytest.skip("a Docker engine answers here: the Docker backend is available")
    assert isinstance(reason, str) and reason.strip()
    assert re.search(r"docker|testcontainers", reason, re.IGNORECASE), reason
