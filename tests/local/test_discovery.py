"""Tenant discovery (macros/discovery/get_tenant_schemas.sql) asked directly, on a real server: what
it returns for tenants whose table is of each kind, for several patterns, for a registry table, and
what the Redshift query returns on emulated SVV_ALL_* views holding a second database. The truth
is the database's own information_schema and the generator's tenant names."""

from __future__ import annotations

import dataclasses
import json
import shutil
import uuid

import psycopg
import pytest

from tenant_harness.errors import DbtRunError
from tenant_harness.runner import DbtProject, default_project_dir

from .test_redshift_offline import SVV_EMULATION, ZERO_ETL_STATE

pytestmark = pytest.mark.local

SHOW = "{{ multitenant_analytics.get_tenant_schemas(%s) | tojson }}"


def discover(project, args: str = "'users'", **vars) -> list[dict]:
    """get_tenant_schemas(args) as it returns, columns_json decoded."""
    result = project.invoke("compile", "--inline", SHOW % args, vars=vars)
    project.last_warnings = result.warnings
    tenants = json.loads(result.nodes[0].compiled_code)
    return [{**t, "columns": json.loads(t.pop("columns_json"))} for t in tenants]


def sql(db, statement: str) -> list[tuple]:
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


def catalog(db, pattern: str = "tenant%") -> dict[str, dict]:
    """Per schema: whether information_schema lists a users table or view, and its column names."""
    schemas = [
        r[0]
        for r in sql(db, f"select schema_name from information_schema.schemata where schema_name ilike '{pattern}'")
    ]
    out = {s: {"has_table": False, "columns": []} for s in schemas}
    for schema, columns in sql(
        db,
        "select table_schema, array_agg(column_name::text order by ordinal_position) from information_schema.columns"
        f" where table_name = 'users' and table_schema ilike '{pattern}' group by 1",
    ):
        out[schema] = {"has_table": True, "columns": columns}
    for (schema,) in sql(
        db,
        "select table_schema from information_schema.tables"
        f" where table_name = 'users' and table_schema ilike '{pattern}'",
    ):
        out[schema]["has_table"] = True  # a table with no column at all
    return out


@pytest.mark.tenants(n=3, rows=2)
def test_each_tenant_has_its_own_users_table_of_any_readable_kind_and_its_own_columns(tenant_database, dbt_project):
    a, b, c = sorted(tenant_database.truth.names)
    sql(tenant_database, f"create table {a}.orders (order_id int, user_id bigint, total numeric)")  # not users
    sql(tenant_database, f"alter table {b}.users drop column first_name")  # a dropped column is gone
    sql(tenant_database, f"alter table {c}.users add column score numeric(10,2)")
    sql(tenant_database, f"create schema tenant_view; create view tenant_view.users as select * from {c}.users")
    sql(
        tenant_database,
        f"create schema tenant_parted; create table tenant_parted.users (like {a}.users) "
        "partition by list (account_status); "
        "create table tenant_parted.users_rest partition of tenant_parted.users default",
    )
    # A sequence, an index and a composite type named users are relations, not tables to read.
    sql(tenant_database, "create schema tenant_seq; create sequence tenant_seq.users")
    sql(
        tenant_database,
        "create schema tenant_idx; create table tenant_idx.t (x int); create index users on tenant_idx.t (x)",
    )
    sql(tenant_database, "create schema tenant_typ; create type tenant_typ.users as (x int)")
    sql(tenant_database, "create schema tenant_nothing")
    truth = catalog(tenant_database)
    got = discover(dbt_project)
    assert [t["name"] for t in got] == sorted(truth, key=str.encode)
    assert {t["name"]: t["has_table"] for t in got} == {s: truth[s]["has_table"] for s in truth}
    assert {t["name"]: [col for col, _ in t["columns"]] for t in got} == {s: truth[s]["columns"] for s in truth}
    assert all(t["readable"] for t in got)  # the superuser reads them all
    types = {t["name"]: dict(t["columns"]) for t in got}
    assert types[c]["score"] == "numeric(10,2)" and types["tenant_view"] == types[c]


NAMES = ("acme", "globex", "Umbrella Corp", "cust_0042", "staging")


@pytest.mark.tenants(tenant_names=NAMES, rows=2)
def test_several_patterns_give_each_tenant_once_in_byte_order(tenant_database, dbt_project):
    patterns = ["cust_*", "UMBRELLA*", "acme", "a*"]  # acme matches twice
    got = [t["name"] for t in discover(dbt_project, f"'users', {json.dumps(patterns)}")]
    assert got == sorted(["cust_0042", "Umbrella Corp", "acme"], key=str.encode)
    # PostgreSQL reserves the prefix pg_ in lower case only: "PG_Tenant" is a schema like any other.
    sql(tenant_database, 'create schema "PG_Tenant"; create table "PG_Tenant".users (like acme.users)')
    got = {t["name"]: t["has_table"] for t in discover(dbt_project, "'users', 'pg*'")}
    assert got == {"PG_Tenant": True}  # not pg_catalog, pg_toast, ...


@pytest.mark.tenants(tenant_names=NAMES, rows=2)
def test_the_schemas_the_project_builds_into_are_never_tenants(tenant_database, dbt_project):
    """Whatever the pattern: the target schema, its test-audit schema and every model's custom
    schema, each given a users table here as a careless project might."""
    enabled = {"enable_zero_etl_model": True}  # a model with a custom schema
    shown = dbt_project.invoke(
        "compile", "--inline", "{{ target.schema }} {{ ref('zero_etl_all_users').schema }}", vars=enabled
    )
    target, custom = shown.nodes[0].compiled_code.split()
    assert custom != target
    for schema in (target, f"{target}_dbt_test__audit", custom):
        sql(tenant_database, f'create schema if not exists "{schema}"; create table "{schema}".users (like acme.users)')
    got = [t["name"] for t in discover(dbt_project, "'users', '*'", **enabled)]
    assert [n for n in got if n in (target, f"{target}_dbt_test__audit", custom)] == []
    assert set(NAMES) <= set(got)


@pytest.mark.tenants(tenant_names=NAMES, rows=2)
def test_a_registry_in_fixed_width_names_lists_its_tenants(tenant_database, dbt_project):
    # char(n) pads names with blanks; the registry names are read as the names they are.
    sql(tenant_database, "create table public.customers (schema_name char(40), active boolean)")
    sql(
        tenant_database,
        "insert into public.customers values ('acme', true), ('Umbrella Corp', true), ('acme', true), "
        "('alpha gone', true), ('Zeta gone', true), ('globex', false)",
    )
    registry = {"relation": "public.customers", "column": "schema_name", "where": "active"}
    got = discover(dbt_project, tenant_registry=registry)
    assert [t["name"] for t in got] == ["Umbrella Corp", "acme"]
    # Registry names with no schema are named in byte order.
    assert any("no schema: Zeta gone, alpha gone" in w for w in dbt_project.last_warnings)
    with pytest.raises(DbtRunError, match="tenant_registry must be a mapping with relation and column"):
        discover(dbt_project, tenant_registry="public.customers")


def two_database_catalog(home: str) -> str:
    """SVV_ALL_* as in test_redshift_offline, over two databases: schemas other_<name> appear as
    <name> in database other_db, the rest in database `home` (an SQL expression)."""
    db = f"case when {{s}} like 'other!_%' escape '!' then 'other_db' else {home} end::varchar"
    name = "(case when {s} like 'other!_%' escape '!' then substr({s}, 7) else {s} end)::varchar"
    return SVV_EMULATION.replace(
        "current_database()::varchar as database_name, schema_name::varchar",
        db.format(s="schema_name") + " as database_name, " + name.format(s="schema_name"),
    ).replace(
        "current_database()::varchar as database_name, table_schema::varchar",
        db.format(s="table_schema") + " as database_name, " + name.format(s="table_schema"),
    )


def show(project, adapter: str, pattern: str, database: str = "target.database") -> dict[str, dict]:
    call = f"multitenant_analytics.{adapter}__get_tenant_schemas('users', '{pattern}', {database})"
    jinja = "{{ " + call + " | tojson }}"
    result = project.invoke("compile", "--inline", jinja)
    project.last_warnings = result.warnings
    return {
        t["name"]: {**t, "columns_json": json.loads(t["columns_json"])}
        for t in json.loads(result.nodes[0].compiled_code)
    }


@pytest.mark.tenants(n=3, rows=2)
def test_redshift_discovery_reads_its_own_database_and_agrees_with_postgres(tenant_database, dbt_project):
    a, b, _ = sorted(tenant_database.truth.names)
    sql(tenant_database, two_database_catalog("current_database()"))
    # other_db holds a tenant_a with other columns and a tenant of its own: neither is read here.
    sql(tenant_database, f"create schema other_{a}; create table other_{a}.users (x int, y text)")
    sql(tenant_database, "create schema other_tenant_q; create table other_tenant_q.users (x int)")
    sql(tenant_database, f"create table {a}.orders (order_id int, total numeric(12,2))")  # not users
    sql(tenant_database, f"alter table {b}.users add column score numeric(10,2), add column code character(3)")
    sql(tenant_database, f'create schema "Tenant_Mixed"; create table "Tenant_Mixed".users (like {a}.users)')
    sql(tenant_database, "create schema tenant_nousers")
    for pattern in ("tenant_*", "TENANT_*"):
        redshift, postgres = show(dbt_project, "redshift", pattern), show(dbt_project, "postgres", pattern)
        assert redshift == postgres
        assert sorted(redshift, key=str.encode) == sorted(
            [*tenant_database.truth.names, "Tenant_Mixed", "tenant_nousers"], key=str.encode
        )


@pytest.mark.tenants(n=4, rows=2)
def test_redshift_zero_etl_discovery_reads_synced_tables_of_its_database_only(tenant_database, dbt_project):
    a, b, c, d = sorted(tenant_database.truth.names)
    sql(tenant_database, two_database_catalog("'zeroetl_emulated'"))
    sql(tenant_database, ZERO_ETL_STATE)
    sql(tenant_database, "create schema tenant_empty; create table tenant_empty.users ()")  # no column at all
    sql(tenant_database, "create schema tenant_nousers")
    sql(tenant_database, f"create table {b}.orders (x int)")
    zero_etl = "'zeroetl_emulated'"
    tables = sum(t["has_table"] for t in catalog(tenant_database).values())
    with pytest.raises(DbtRunError, match=rf"no Zero-ETL table state visible for the {tables} users table\(s\)"):
        show(dbt_project, "redshift", "tenant_*", zero_etl)
    home = "zeroetl_emulated"
    states = [(home, a, "users", "Synced"), (home, b, "users", "Synced"), (home, b, "orders", "ResyncRequired"),
              ("other_db", c, "users", "Synced"), (home, d, "users", "Synced"),
              (home, "tenant_empty", "users", "Synced")]  # fmt: skip
    with psycopg.connect(tenant_database.conninfo, autocommit=True) as conn:
        conn.cursor().executemany("insert into public.svv_integration_table_state values (%s, %s, %s, %s)", states)
    got = show(dbt_project, "redshift", "tenant_*", zero_etl)
    warned = dbt_project.last_warnings
    postgres = show(dbt_project, "postgres", "tenant_*")
    # c's only state is another database's table: c is skipped, named; tenant_nousers has no table to sync.
    assert sorted(got) == sorted([a, b, d, "tenant_empty", "tenant_nousers"])
    assert {n: t["columns_json"] for n, t in got.items()} == {n: postgres[n]["columns_json"] for n in got}
    assert [w for w in warned if "Synced skipped" in w and f"{c}.users (no state)" in w]


def readable_as(db, conninfo: str) -> dict[str, bool]:
    """Per tenant: whether ``conninfo``'s role reads every row of its users table (the truth that
    `readable` must tell: no error, and as many rows as the table holds)."""
    out = {}
    for name in db.truth.names:
        rows = sql(db, f"select count(*) from {name}.users")[0][0]
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                out[name] = conn.execute(f"select count(*) from {name}.users").fetchone()[0] == rows
        except psycopg.errors.InsufficientPrivilege:
            out[name] = False
    return out


@pytest.mark.tenants(n=6, rows=3)
def test_readable_is_whether_the_role_reads_every_row(tenant_database, dbt_project, dbt_work_dir):
    """Schema usage, table select, row level security (a policy hiding every row), its owner
    exemption unless forced, and BYPASSRLS, as PostgreSQL applies them."""
    a, b, c, d, e, f = sorted(tenant_database.truth.names)
    analyst, bypass = (f"{kind}_{uuid.uuid4().hex[:8]}" for kind in ("analyst", "bypass"))  # roles are server-wide
    sql(tenant_database, f"create role {analyst} login; create role {bypass} login bypassrls")
    for role in (analyst, bypass):
        sql(tenant_database, f"grant usage on schema {a}, {c}, {d}, {e}, {f} to {role}")
        sql(
            tenant_database, f"grant select on {a}.users, {b}.users, {d}.users, {f}.users to {role}"
        )  # b: no usage, c: no select
    hide_all = "enable row level security; create policy nobody on {t}.users using (false)"
    sql(tenant_database, f"alter table {d}.users {hide_all.format(t=d)}")
    sql(tenant_database, f"alter table {e}.users owner to {analyst}; alter table {e}.users {hide_all.format(t=e)}")
    sql(tenant_database, f"alter table {f}.users owner to {analyst}; alter table {f}.users {hide_all.format(t=f)}")
    sql(tenant_database, f"alter table {f}.users force row level security")
    assert all(sql(tenant_database, f"select count(*) from {t}.users")[0][0] > 0 for t in (d, e, f))
    truths = {}
    for role in (analyst, bypass):
        endpoint = dataclasses.replace(tenant_database.endpoint, user=role)
        truths[role] = readable_as(tenant_database, endpoint.conninfo(tenant_database.name))
        with DbtProject(
            env=endpoint.dbt_env(tenant_database.name), work_dir=dbt_work_dir / role, quiet=True, artifacts=False
        ) as project:
            assert {t["name"]: t["readable"] for t in discover(project)} == truths[role]
    assert truths[analyst] == {a: True, b: False, c: False, d: False, e: True, f: False}
    assert truths[bypass][d] and truths[bypass][f]
    # The superuser bypasses row level security, forced or not.
    assert all(t["readable"] for t in discover(dbt_project)) and all(
        readable_as(tenant_database, tenant_database.conninfo).values()
    )


@pytest.mark.tenants(n=2, rows=1)
def test_zero_etl_discovery_reads_the_database_it_is_given(tenant_database, dbt_project):
    # The project's var zeroetl_database names another database, which PostgreSQL could not read.
    call = "multitenant_analytics.get_zero_etl_tenant_schemas(target.database)"
    jinja = "{{ " + call + " | map(attribute='name') | list | tojson }}"
    assert json.loads(dbt_project.invoke("compile", "--inline", jinja).nodes[0].compiled_code) == sorted(
        tenant_database.truth.names
    )


def offline_redshift_env(schema: str) -> dict[str, str]:
    """A Redshift target no test connects to (offline compiles), with target schema ``schema``."""
    return {"DBT_TARGET": "redshift", "DBT_REDSHIFT_HOST": "redshift.invalid", "DBT_REDSHIFT_USER": "nobody",
            "DBT_ENV_SECRET_REDSHIFT_PASSWORD": "", "DBT_REDSHIFT_DBNAME": "dev",
            "DBT_REDSHIFT_SCHEMA": schema}  # fmt: skip


SEED_AND_SNAPSHOT = {
    "seeds/countries.csv": "code,name\nfr,France\n",
    "seeds/countries.yml": "seeds:\n  - name: countries\n    config: {schema: reference}\n",
    "snapshots/users_history.yml": (
        "snapshots:\n  - name: users_history\n    relation: ref('all_users')\n"
        "    config: {schema: history, unique_key: user_id, strategy: check, check_cols: all}\n"
    ),
}


def test_on_redshift_the_folded_names_of_the_schemas_the_project_builds_into_are_never_tenants(tmp_path):
    """Redshift folds unquoted names to lower case: a target schema "Analytics_Mixed" is listed by the
    catalogue as analytics_mixed, and so are the schemas derived from it: a model's, a seed's and a
    snapshot's custom schema. Offline (no cluster), the names given stand in for the catalogue's."""
    project_dir = tmp_path / "project"
    shutil.copytree(default_project_dir(), project_dir, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    for path, text in SEED_AND_SNAPSHOT.items():
        (project_dir / path).parent.mkdir(exist_ok=True)
        (project_dir / path).write_text(text)
    # Every model in a custom schema: nothing but the target itself names the target schema.
    project_file = project_dir / "dbt_project.yml"
    project_file.write_text(
        project_file.read_text().replace("+materialized: table", "+materialized: table\n    +schema: marts", 1)
    )
    env = offline_redshift_env("Analytics_Mixed")
    with DbtProject(project_dir=project_dir, env=env, work_dir=tmp_path / "dbt", quiet=True) as project:
        enabled = {"enable_zero_etl_model": True}  # a model with a custom schema
        offline = ("compile", "--no-populate-cache", "--inline")  # nothing may connect
        refs = " ".join(
            "{{ ref('" + n + "').schema }}" for n in ("all_users", "zero_etl_all_users", "countries", "users_history")
        )
        custom = project.invoke(*offline, refs, vars=enabled).nodes[0].compiled_code.split()
        built = ["analytics_mixed", "analytics_mixed_dbt_test__audit", *(s.lower() for s in custom)]
        assert all(s != s.lower() for s in custom) and len(set(built)) == 6
        tenants = {"names": ["tenant_a", *built, "tenant_b"], "columns": [["user_id", "bigint"]]}
        got = project.invoke(*offline, SHOW % "'users', '*'", vars={"offline_tenants": tenants, **enabled})
    assert [t["name"] for t in json.loads(got.nodes[0].compiled_code)] == ["tenant_a", "tenant_b"]


def test_the_schema_a_data_test_stores_its_failures_in_is_never_a_tenant(tmp_path):
    """`store_failures` with a custom `schema` makes dbt build a schema per that config (here
    <target>_audit, beside <target>_dbt_test__audit): a schema of this project's, not a tenant's,
    whatever the pattern. Offline, the names given stand in for the catalogue's."""
    project_dir = tmp_path / "project"
    shutil.copytree(default_project_dir(), project_dir, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    project_file = project_dir / "dbt_project.yml"
    audit = "data_tests:\n  multitenant_analytics:\n    +store_failures: true\n    +schema: audit\n"
    project_file.write_text(project_file.read_text() + "\n" + audit)
    env = offline_redshift_env("analytics")
    with DbtProject(project_dir=project_dir, env=env, work_dir=tmp_path / "dbt", quiet=True) as project:
        offline = ("compile", "--no-populate-cache", "--inline")  # nothing may connect
        names = ["analytics_audit", "tenant_a", "analytics_dbt_test__audit"]
        tenants = {"names": names, "columns": [["user_id", "bigint"]]}
        got = project.invoke(*offline, SHOW % "'users', '*'", vars={"offline_tenants": tenants})
    assert [t["name"] for t in json.loads(got.nodes[0].compiled_code)] == ["tenant_a"]
