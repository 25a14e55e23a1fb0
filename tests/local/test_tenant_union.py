"""The tenant_union materialization and the discovery macros, against a real server."""

from __future__ import annotations

import json
import re
import threading

import psycopg
import pytest

from tenant_harness.errors import DbtRunError
from tenant_harness.runner import DbtProject
from tenant_harness.tenants import expected_all_users, plan_tenants
from tests.suites import all_users_checks
from tests.suites.db import holding, wait_until

pytestmark = pytest.mark.local

USERS = "users (user_id bigint, email text, first_name text, last_name text, registration_date date, " \
        "last_login_date timestamp, account_status text, subscription_tier text, created_at timestamp, " \
        "updated_at timestamp)"  # fmt: skip


def sql(db, statement: str, *params) -> list[tuple]:
    with psycopg.connect(db.conninfo) as conn:
        cur = conn.execute(statement, params or None)
        return cur.fetchall() if cur.description else []


def table_rows(db) -> list[tuple]:
    return sql(db, "select tenant_id, user_id, email from analytics.all_users order by 1, 2")


@pytest.mark.tenants(n=10, rows=3, seed=5)
def test_batch_sizes_give_identical_tables(tenant_database, dbt_project):
    tables = {}
    for size in (1, 7, 9, 10, 11):
        dbt_project.run("all_users", full_refresh=True, vars={"tenant_processing": {"batch_size": size}})
        tables[size] = table_rows(tenant_database)
    assert len(tables[10]) == tenant_database.truth.kept_rows
    assert all(t == tables[10] for t in tables.values())


@pytest.mark.tenants(n=4, rows=2, seed=1)
def test_failed_run_leaves_previous_table_and_next_run_recovers(tenant_database, dbt_project):
    dbt_project.run("all_users")
    before = table_rows(tenant_database)
    loaded_at = sql(tenant_database, "select max(dbt_loaded_at) from analytics.all_users")
    # A tenant whose table fails only when read, in the last batch: earlier batches succeed first.
    sql(tenant_database, "create schema tenant_zz")
    sql(tenant_database, "create view tenant_zz.users as select (1 / (user_id - user_id))::bigint as "
        "user_id, email, first_name, last_name, registration_date, last_login_date, account_status, "
        "subscription_tier, created_at, updated_at from tenant_a.users")  # fmt: skip
    with pytest.raises(DbtRunError, match="division by zero"):
        dbt_project.run("all_users", vars={"tenant_processing": {"batch_size": 1}})
    assert table_rows(tenant_database) == before
    assert sql(tenant_database, "select max(dbt_loaded_at) from analytics.all_users") == loaded_at

    sql(tenant_database, "drop schema tenant_zz cascade")
    dbt_project.run("all_users", vars={"tenant_processing": {"batch_size": 1}})
    assert table_rows(tenant_database) == before
    leftovers = sql(tenant_database, "select relname from pg_class where relname like 'all\\_users\\_\\_%'")
    assert leftovers == []


@pytest.mark.tenants(n=0)
def test_zero_tenants_is_a_clear_error(tenant_database, dbt_project):
    with pytest.raises(DbtRunError, match=r'no tenant to process: 0 schema\(s\) match pattern "tenant_\*"'):
        dbt_project.run("all_users")


@pytest.mark.tenants(n=3, rows=2)
def test_near_miss_schema_names_are_not_tenants(tenant_database, dbt_project):
    for schema in ("tenantx1", "tenant", "my_tenant_a", "tenant-b"):
        sql(tenant_database, f'create schema "{schema}"; create table "{schema}".{USERS}; '
            f"""insert into "{schema}".users (user_id, email) values (1, 'x@y.z')""")  # fmt: skip
    dbt_project.run("all_users")
    tenants = [r[0] for r in sql(tenant_database, "select distinct tenant_id from analytics.all_users order by 1")]
    assert tenants == ["tenant_a", "tenant_b", "tenant_c"]


@pytest.mark.tenants(n=3, rows=2)
def test_tenant_without_table_is_skipped_with_warning_or_error(tenant_database, dbt_project):
    sql(tenant_database, "create schema tenant_empty")
    result = dbt_project.run("all_users")
    assert len(table_rows(tenant_database)) == tenant_database.truth.kept_rows
    assert any("tenant_empty" in w for w in result.warnings)
    with pytest.raises(DbtRunError, match="have no table users: tenant_empty"):
        dbt_project.run("all_users", vars={"tenant_processing": {"missing_table": "error"}})


@pytest.mark.tenants(n=3, rows=2)
@pytest.mark.parametrize("bad", [0, -1, "abc", 2.5])
def test_bad_batch_size_is_a_compile_error_naming_the_value(tenant_database, dbt_project, bad):
    with pytest.raises(DbtRunError, match="batch_size must be a whole number >= 1"):
        dbt_project.run("all_users", vars={"tenant_processing": {"batch_size": bad}})


@pytest.mark.tenants(n=3, rows=2)
@pytest.mark.parametrize(
    ("key", "bad"), [("query_timeout_seconds", -1), ("lock_timeout_seconds", "abc"), ("run_wait_seconds", True)]
)
def test_bad_performance_setting_is_a_compile_error_naming_it(tenant_database, dbt_project, key, bad):
    got = re.escape(json.dumps(bad))
    with pytest.raises(DbtRunError, match=rf"performance\.{key} must be a number of seconds >= 0 .*, got {got}\."):
        dbt_project.run("all_users", vars={"performance": {key: bad}})
    assert sql(tenant_database, "select to_regclass('analytics.all_users')") == [(None,)]


@pytest.mark.tenants(n=5, rows=2)
def test_max_tenant_limit_names_count_and_limit(tenant_database, dbt_project):
    with pytest.raises(DbtRunError, match="5 tenants exceed max_tenant_limit 4"):
        dbt_project.run("all_users", vars={"tenant_processing": {"max_tenant_limit": 4}})


@pytest.mark.tenants(n=5, rows=2)
def test_filters_include_exclude_and_seed_filter(tenant_database, dbt_project):
    def tenants_for(processing):
        # Each filter change is deliberate: the guard against vanishing tenants is switched off.
        dbt_project.run("all_users", vars={"tenant_processing": {"max_tenant_drop": 1, **processing}})
        return [r[0] for r in sql(tenant_database, "select distinct tenant_id from analytics.all_users order by 1")]

    assert tenants_for({"enable_tenant_filter": True, "filtered_tenants": ["tenant_b", "tenant_d"]}) == [
        "tenant_b", "tenant_d"]  # fmt: skip
    assert tenants_for({"include_tenants": ["tenant_?"], "exclude_tenants": ["*_a", "tenant_e"]}) == [
        "tenant_b", "tenant_c", "tenant_d"]  # fmt: skip
    # An include entry naming no tenant (an offboarded customer) warns; an exclude one is fine.
    assert tenants_for({"include_tenants": ["tenant_a", "tenant_nope"], "exclude_tenants": ["tenant_gone"]}) == [
        "tenant_a"]  # fmt: skip
    with pytest.raises(DbtRunError, match="names tenants that do not exist: tenant_nope"):
        tenants_for({"include_tenants": ["tenant_a", "tenant_nope"], "unknown_filter_entry": "error"})


@pytest.mark.tenants(n=3, rows=2)
def test_column_drift_becomes_typed_null_and_widened_type(tenant_database, dbt_project):
    sql(tenant_database, "alter table tenant_b.users drop column last_name")
    sql(tenant_database, "alter table tenant_c.users alter column user_id type integer")
    dbt_project.run("all_users")
    rows = sql(tenant_database, "select tenant_id, last_name from analytics.all_users order by 1, user_id")
    assert [r[1] is None for r in rows] == [False, False, True, True, False, False]
    user_id_type = sql(tenant_database, "select format_type(atttypid, atttypmod) from pg_attribute "
                       "where attrelid = 'analytics.all_users'::regclass and attname = 'user_id'")  # fmt: skip
    assert user_id_type == [("bigint",)]


@pytest.mark.tenants(n=5, rows=5, seed=2)
def test_incremental_run_equals_full_refresh(tenant_database, dbt_project):
    db = tenant_database
    dbt_project.run("all_users")
    # New rows, an updated row, a new tenant, a removed tenant; tenant_e unchanged.
    sql(db, "insert into tenant_a.users (user_id, email, updated_at) values (100, 'New@X.com ', now())")
    sql(db, "update tenant_b.users set email = 'changed@x.com', updated_at = now() where user_id = 2")
    sql(db, f"create schema tenant_new; create table tenant_new.{USERS}; "
        "insert into tenant_new.users (user_id, email, updated_at) values (1, 'a@b.c', now())")  # fmt: skip
    sql(db, "drop schema tenant_c cascade")
    sql(db, "insert into tenant_d.users (user_id, email, updated_at) values (101, 'no@time.x', null)")
    columns = "tenant_id, user_id, email, first_name, last_name, account_status, updated_at"

    # One of the four tenants removed is more than the tenant-count guard's default share (0.2).
    dbt_project.run("all_users", vars={"tenant_processing": {"max_tenant_drop": 0.25}})
    incremental = sql(db, f"select {columns} from analytics.all_users order by 1, 2")
    runs = sql(db, "select incremental, rows_written from analytics.tenant_union_runs order by finished_at")
    dbt_project.run("all_users", full_refresh=True)
    full = sql(db, f"select {columns} from analytics.all_users order by 1, 2")

    assert incremental == full
    assert ("tenant_a", 100, "new@x.com") in [r[:3] for r in full]
    assert ("tenant_b", 2, "changed@x.com") in [r[:3] for r in full]
    assert not any(r[0] == "tenant_c" for r in full)
    assert ("tenant_d", 101, "no@time.x") in [r[:3] for r in full]  # a row without updated_at
    # It read the changed tenants, each whole, and skipped the unchanged tenant_e.
    assert runs[-1][0] is True and runs[-1][1] == len([r for r in full if r[0] != "tenant_e"])

    dbt_project.run("all_users")  # again: the null-updated_at row is read again, kept once
    assert sql(db, f"select {columns} from analytics.all_users order by 1, 2") == full


@pytest.mark.tenants(n=3, rows=2)
def test_incremental_run_after_a_column_change_asks_for_a_full_refresh(tenant_database, dbt_project):
    dbt_project.run("all_users")
    # As if the model had changed since the table was built: the table lacks one of its columns.
    sql(tenant_database, "alter table analytics.all_users drop column last_name")
    before = table_rows(tenant_database)
    hint = r"--full-refresh --select all_users \(with the harness: tenant-harness run --full-refresh --select all"
    with pytest.raises(DbtRunError, match="columns of all_users changed.*" + hint):
        dbt_project.run("all_users")
    assert table_rows(tenant_database) == before
    dbt_project.run("all_users", full_refresh=True)


def _estimate(dbt_project, tenants: int, rows: int) -> float:
    """The value estimate_processing_time returns (a run-operation only logs it)."""
    return float(compiled(dbt_project, f"{{{{ multitenant_analytics.estimate_processing_time({tenants}, {rows}) }}}}"))


def _record_builds(db, builds: list[tuple[str, int, int, float, bool]]) -> None:
    """Replace the measured builds with (model, tenants, rows, seconds, incremental), newest last."""
    sql(db, "delete from analytics.tenant_union_runs")
    for n, (model, tenants, rows, seconds, incremental) in enumerate(builds):
        sql(db, "insert into analytics.tenant_union_runs values (%s, now() + make_interval(secs => %s), %s, 1, "
            "50, %s, %s, %s, null)", model, n, tenants, rows, seconds, incremental)  # fmt: skip


@pytest.mark.tenants(n=3, rows=2)
def test_each_build_logs_the_stats_block_unless_turned_off(tenant_database, dbt_project):
    # The seed's stats block, in dbt's log, unless logging.show_performance_stats is false (a project
    # without the var gets it too: test_package.py).
    log = dbt_project.work_dir / "logs" / "dbt.log"

    def logged(**run) -> str:
        start = log.stat().st_size if log.exists() else 0
        dbt_project.run("all_users", **run)
        with log.open() as f:
            f.seek(start)
            return f.read()

    tenants = len(tenant_database.truth.tenants)
    block = f"Table: users\nTotal Tenants: {tenants}\nBatch Size: 2\nBatch Count: {-(-tenants // 2)}"
    assert block in logged(vars={"tenant_processing": {"batch_size": 2}})
    off = {"tenant_processing": {"batch_size": 2}, "logging": {"show_performance_stats": False}}
    assert "Tenant Processing Stats" not in logged(vars=off)


@pytest.mark.tenants(n=3, rows=2)
def test_estimate_processing_time_is_calibrated_from_measured_builds(tenant_database, dbt_project):
    args = ["run-operation", "estimate_processing_time", "--args", "{tenant_count: 100, avg_rows_per_tenant: 1000}"]
    with pytest.raises(DbtRunError, match="no measured builds yet"):
        dbt_project.invoke(*args)
    dbt_project.run("all_users")
    # One measured build: its cost cannot be split between tenants and rows, so all of it is per tenant.
    ((tenants, seconds),) = sql(tenant_database, "select tenants, seconds from analytics.tenant_union_runs")
    assert tenants == len(tenant_database.truth.tenants)
    assert _estimate(dbt_project, 100, 1000) == pytest.approx(seconds / tenants * 100, rel=1e-6)

    # Two shapes: seconds = 0.5 per tenant + 0.01 per row, fitted exactly; an incremental build and
    # another model's build are not part of the fit.
    _record_builds(tenant_database, [("all_users", 10, 1000, 15.0, False), ("all_users", 100, 500, 55.0, False),
                                     ("all_users", 1000, 1, 9999.0, True), ("other", 1, 1, 9999.0, False)])  # fmt: skip
    assert _estimate(dbt_project, 100, 1000) == pytest.approx(0.5 * 100 + 0.01 * 100 * 1000)
    assert _estimate(dbt_project, 0, 1000) == pytest.approx(0.0)
    # A fit with a negative cost falls back to the mean cost per tenant (45 s / 30 tenants).
    _record_builds(tenant_database, [("all_users", 10, 1000, 5.0, False), ("all_users", 20, 100, 40.0, False)])
    assert _estimate(dbt_project, 100, 1000) == pytest.approx(1.5 * 100)
    # Only the last 50 full builds count.
    _record_builds(tenant_database, [("all_users", 10, 10, 1000.0, False)] + [("all_users", 10, 10, 1.0, False)] * 50)
    assert _estimate(dbt_project, 10, 10) == pytest.approx(1.0)
    # Builds of empty tenants (no rows at all): the cost cannot be split, so it is all per tenant
    # (15 s / 30 tenants), not a division by zero.
    _record_builds(tenant_database, [("all_users", 10, 0, 5.0, False), ("all_users", 20, 0, 10.0, False)])
    assert _estimate(dbt_project, 100, 1000) == pytest.approx(0.5 * 100)
    # A fitted cost of exactly zero is a cost, not a negative one to fall back from: seconds that grow
    # with rows only (0.02 s a row) fit 0 per tenant; seconds that do not grow with rows fit 0 per row
    # and 1 s per tenant (the mean per tenant, 5 s / 4 tenants, would say 1.25).
    _record_builds(tenant_database, [("all_users", t, r, s, False) for t, r, s in [(1, 100, 2), (2, 100, 2),
                                                                                   (1, 300, 6)]])  # fmt: skip
    assert _estimate(dbt_project, 10, 1000) == pytest.approx(0.02 * 10 * 1000)
    _record_builds(tenant_database, [("all_users", t, r, s, False) for t, r, s in [(1, 0, 1), (1, 1, 3), (2, 2, 1)]])
    assert _estimate(dbt_project, 100, 1000) == pytest.approx(1.0 * 100)
    # Builds of 50,000 tenants and billions of rows or more: squares and products past PostgreSQL's
    # integer and bigint.
    per_tenant, per_row = 0.5, 1e-6
    big = [(50_000, 4_000_000_000), (60_000, 200_000_000_000_000)]
    _record_builds(tenant_database, [("all_users", t, r, per_tenant * t + per_row * r, False) for t, r in big])
    assert _estimate(dbt_project, 100, 1000) == pytest.approx(per_tenant * 100 + per_row * 100 * 1000, rel=1e-6)
    _record_builds(tenant_database, [("all_users", 10, 10, 1.0, True)])
    with pytest.raises(DbtRunError, match="no full build of all_users measured yet"):
        dbt_project.invoke(*args)
    for bad in ("x", -1, True):
        for name, other in (("tenant_count", "avg_rows_per_tenant"), ("avg_rows_per_tenant", "tenant_count")):
            with pytest.raises(DbtRunError, match=f"{name} must be a number >= 0"):
                dbt_project.invoke(
                    "run-operation", "estimate_processing_time", "--args", f"{{{name}: {bad}, {other}: 1}}"
                )


def compiled(dbt_project, jinja: str) -> str:
    return dbt_project.invoke("compile", "--inline", jinja).nodes[0].compiled_code.strip()


@pytest.mark.tenants(n=3, rows=2)
def test_seed_helper_macros(tenant_database, dbt_project):
    sql(tenant_database, 'create schema "tenant_x""y"')
    assert (
        compiled(dbt_project, "{{ multitenant_analytics.validate_tenant_table_exists('users') }}") == "['tenant_x\"y']"
    )
    # The references work: a table made through one is read back by its schema's real name, and a
    # three-part one (Zero-ETL style, here the current database) reads the tenant's rows.
    ref = compiled(dbt_project, "{{ multitenant_analytics.get_tenant_table_ref('tenant_x\"y', 'users') }}")
    sql(tenant_database, f"create table {ref} as select * from tenant_a.users")
    source = {t.name: t.source_rows for t in tenant_database.truth.tenants}
    assert sql(tenant_database, 'select count(*) from "tenant_x""y".users') == [(source["tenant_a"],)]
    sql(tenant_database, 'drop table "tenant_x""y".users')
    three_part = compiled(
        dbt_project, "{{ multitenant_analytics.get_tenant_table_ref('tenant_b', 'users', target.database) }}"
    )
    assert sql(tenant_database, f"select count(*) from {three_part}") == [(source["tenant_b"],)]
    columns = compiled(
        dbt_project,
        "{% for c in multitenant_analytics.get_tenant_table_columns('tenant_b') %}{{ c.name }} {% endfor %}",
    )
    assert columns.split() == [
        "user_id",
        "email",
        "first_name",
        "last_name",
        "registration_date",
        "last_login_date",
        "account_status",
        "subscription_tier",
        "created_at",
        "updated_at",
    ]
    union = compiled(
        dbt_project,
        "{{ multitenant_analytics.union_zero_etl_tenant_tables('users', zeroetl_database=target.database) }}",
    )
    # Run, the union holds every source row of every tenant with the table, tagged with its tenant.
    counts = dict(sql(tenant_database, f"select tenant_id, count(*) from ({union}) as u group by 1"))
    assert counts == {t.name: t.source_rows for t in tenant_database.truth.tenants}


@pytest.fixture(scope="module")
def probe_copy(tmp_path_factory):
    """One copy of the dbt project for the module's probe tests, with an empty models/probe/: one
    folder and one dbt target/ for all of them, so dbt parses the copy in full once and afterwards
    only the probe files a test added, changed or removed (partial parsing)."""
    import shutil

    from tenant_harness.runner import default_project_dir

    copy = tmp_path_factory.mktemp("probe") / "project"
    shutil.copytree(default_project_dir(), copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (copy / "models" / "probe").mkdir()
    return copy


@pytest.fixture
def probe_project(tenant_database, probe_copy):
    """The module's copy of the dbt project with models/probe/ emptied (write models there, then run)."""
    probe = probe_copy / "models" / "probe"
    for model in probe.iterdir():
        model.unlink()
    work_dir = probe_copy.parent / "dbt"
    with DbtProject(
        env=tenant_database.dbt_env(), project_dir=probe_copy, work_dir=work_dir, quiet=True, artifacts=False
    ) as p:
        yield probe, p


@pytest.mark.tenants(n=4, rows=3, seed=3)
def test_materialization_builds_what_the_models_union_asks_for(tenant_database, probe_project):
    models, project = probe_project
    (models / "user_emails.sql").write_text(
        "{{ config(materialized='tenant_union', pre_hook='create table analytics.pre_hook_ran (x int)') }}\n"
        "with u as ({{ multitenant_analytics.union_tenant_tables('users', columns=['user_id', 'email'],"
        " batch_size=1) }})\n"
        "select u.tenant_id, u.user_id, u.email from u"
    )
    project.run("user_emails")
    columns = sql(
        tenant_database,
        "select attname from pg_attribute where attrelid = 'analytics.user_emails'::regclass "
        "and attnum > 0 order by attnum",
    )
    assert [c[0] for c in columns] == ["tenant_id", "user_id", "email"]
    assert sql(tenant_database, "select count(*) from analytics.user_emails") == [(tenant_database.truth.source_rows,)]
    batches = sql(tenant_database, "select batches from analytics.tenant_union_runs where model = 'user_emails'")
    assert batches == [(4,)]  # the union's batch_size=1, one batch per tenant
    assert sql(tenant_database, "select to_regclass('analytics.pre_hook_ran') is not null") == [(True,)]


@pytest.mark.tenants(n=3, rows=2)
def test_hooks_run_once_each_in_their_place_and_transactions_stay_paired(tenant_server, tenant_database, probe_project):
    """Pre- and post-hooks inside dbt's transaction and outside it (before_begin, after_commit) run
    once each, in that order, on a first build and on a rebuild; and a pre-hook outside the
    transaction (dbt commits before it) leaves no unpaired BEGIN or COMMIT in the server's log.
    (dbt's own COMMIT before after_commit hooks, sent after the build has committed, is dbt's.)"""
    models, project = probe_project
    sql(tenant_database, "create schema if not exists analytics; "
                         "create table analytics.hook_log (id serial, model text, hook text)")  # fmt: skip

    def write(model: str, pre: list[str], post: list[str]) -> None:
        def hooks(where: list[str]) -> str:
            calls = {"in": '"{}"', "out": 'before_begin("{}")' if where is pre else 'after_commit("{}")'}
            insert = "insert into analytics.hook_log (model, hook) values ('" + model + "', '{}')"
            return "[" + ", ".join(calls[h].format(insert.format(h)) for h in where) + "]"

        (models / f"{model}.sql").write_text(
            f"{{{{ config(materialized='tenant_union', pre_hook={hooks(pre)}, post_hook={hooks(post)}) }}}}\n"
            "with u as ({{ multitenant_analytics.union_tenant_tables('users', columns=['user_id']) }})\n"
            "select u.tenant_id, u.user_id from u"
        )

    def ran(model: str) -> list[str]:
        return [
            h
            for (h,) in sql(tenant_database, "select hook from analytics.hook_log where model = %s order by id", model)
        ]

    write("pre_hooked", pre=["in", "out"], post=["in"])
    write("post_hooked", pre=[], post=["in", "out"])
    server_log = getattr(tenant_server, "log_path", None)
    start = server_log.stat().st_size if server_log else 0
    project.run("pre_hooked")  # a first build
    assert ran("pre_hooked") == ["out", "in", "in"]
    project.run("pre_hooked")  # a rebuild: the swap
    assert ran("pre_hooked") == ["out", "in", "in"] * 2
    assert sql(tenant_database, "select count(*) from analytics.pre_hooked") == [(tenant_database.truth.source_rows,)]
    if server_log:
        text = server_log.read_text(errors="replace")[start:]
        assert "no transaction in progress" not in text and "already a transaction in progress" not in text, text
    project.run("post_hooked")
    assert ran("post_hooked") == ["in", "out"]


@pytest.mark.tenants(n=3, rows=2)
def test_grants_follow_the_config_on_a_rebuild_and_on_an_incremental_run(tenant_database, probe_project):
    """A grant taken out of the model's config is revoked, whether the next run rebuilds the table
    (a new table: only the configured grants) or applies a delta to the one there (revoked)."""
    import uuid

    models, project = probe_project
    roles = [f"reader_{uuid.uuid4().hex[:8]}" for _ in range(2)]  # roles are server-wide
    sql(tenant_database, "; ".join(f"create role {r}" for r in roles))
    try:

        def build(role: str, **kw) -> set[str]:
            (models / "granted.sql").write_text(
                "{{ config(materialized='tenant_union', incremental_column='updated_at', unique_key='user_id',"
                f" volatile_columns=[], grants={{'select': ['{role}']}}) }}}}\n"
                "with u as ({{ multitenant_analytics.union_tenant_tables('users') }})\n"
                "select u.tenant_id, u.user_id, u.updated_at from u"
            )
            project.run("granted", **kw)
            grantees = "select grantee from information_schema.role_table_grants where table_name = 'granted'"
            return {g for (g,) in sql(tenant_database, grantees)} & set(roles)

        assert build(roles[0]) == {roles[0]}  # a first build
        assert build(roles[1]) == {roles[1]}  # incremental: the grant to the first role revoked
        assert build(roles[0], full_refresh=True) == {roles[0]}  # a rebuild
        assert sql(tenant_database, "select incremental from analytics.tenant_union_runs where model = 'granted' "
                   "order by finished_at") == [(False,), (True,), (False,)]  # fmt: skip
    finally:
        sql(tenant_database, "drop owned by " + ", ".join(roles) + "; drop role " + ", ".join(roles))


@pytest.mark.tenants(n=3, rows=2)
def test_a_schema_named_like_the_markers_is_just_a_tenant(tenant_database, dbt_project):
    name = "tenant_z/* tenant_union:end */"
    sql(tenant_database, q_create(name))
    dbt_project.run("all_users")
    assert name in [r[0] for r in sql(tenant_database, "select distinct tenant_id from analytics.all_users")]


def q_create(schema: str) -> str:
    quoted = '"' + schema.replace('"', '""') + '"'
    return (
        f"create schema {quoted}; create table {quoted}.{USERS}; "
        f"insert into {quoted}.users (user_id, email) values (1, 'a@b.c')"
    )


@pytest.mark.tenants(n=3, rows=3)
@pytest.mark.parametrize("unique_key", ["user_id", ["user_id"]])
def test_unique_key_without_tenant_id_or_as_a_string_stays_per_tenant(tenant_database, probe_project, unique_key):
    models, project = probe_project
    (models / "users_by_id.sql").write_text(
        f"{{{{ config(materialized='tenant_union', incremental_column='updated_at', unique_key={unique_key!r}) }}}}\n"
        "with u as ({{ multitenant_analytics.union_tenant_tables('users') }})\n"
        "{{ multitenant_analytics.clean_users('u') }}"
    )
    project.run("users_by_id")
    sql(tenant_database, "update tenant_a.users set email = 'new@a.x', updated_at = now() where user_id = 1")
    project.run("users_by_id")
    keys = sql(tenant_database, "select tenant_id, user_id from analytics.users_by_id where user_id = 1 order by 1")
    assert keys == [("tenant_a", 1), ("tenant_b", 1), ("tenant_c", 1)]


# A model with a column PostgreSQL cannot hash (json) and a load time that differs on every build.
CHECKED_MODEL = (
    "{{{{ config(materialized='tenant_union', incremental_column='updated_at', unique_key='user_id'{volatile}) }}}}\n"
    "with u as ({{{{ multitenant_analytics.union_tenant_tables('users') }}}})\n"
    "select u.tenant_id, u.user_id, u.email, u.updated_at, json_build_object('e', u.email) as doc,"
    " clock_timestamp() as loaded_at from u"
)


def last_written(db, model: str) -> int:
    return sql(db, "select rows_written from analytics.tenant_union_runs where model = %s "
               "order by finished_at desc limit 1", model)[0][0]  # fmt: skip


@pytest.mark.tenants(n=3, rows=3, seed=5)
def test_the_change_check_sees_an_update_that_keeps_the_incremental_column(tenant_database, probe_project):
    """Every column is checked, not only the key and incremental_column: an email changed in place
    (updated_at as it was) is read again, a json column included; volatile_columns are not checked,
    so an unchanged rerun reads nothing."""
    db = tenant_database
    models, project = probe_project
    (models / "checked.sql").write_text(CHECKED_MODEL.format(volatile=", volatile_columns=['loaded_at']"))
    project.run("checked")
    project.run("checked")
    assert last_written(db, "checked") == 0  # loaded_at differs, yet nothing was read again
    sql(db, "update tenant_b.users set email = 'in.place@b.x' where user_id = "
        "(select min(user_id) from tenant_b.users where email is not null)")  # fmt: skip
    project.run("checked")
    rows = "select tenant_id, user_id, email, updated_at, doc::text from analytics.checked order by 1, 2"
    incremental = sql(db, rows)
    assert last_written(db, "checked") == sum(1 for r in incremental if r[0] == "tenant_b")
    project.run("checked", full_refresh=True)
    assert incremental == sql(db, rows)
    assert any(r[2] == "in.place@b.x" and "in.place@b.x" in r[4] for r in incremental)


@pytest.mark.tenants(n=3, rows=2)
def test_volatile_columns_must_be_columns_the_check_may_leave_out(tenant_database, probe_project):
    models, project = probe_project
    (models / "checked.sql").write_text(CHECKED_MODEL.format(volatile=", volatile_columns=['loaded_at']"))
    project.run("checked")
    (models / "checked.sql").write_text(CHECKED_MODEL.format(volatile=", volatile_columns=['load_time']"))
    with pytest.raises(DbtRunError, match="volatile_columns names 'load_time', not a column of checked"):
        project.run("checked")
    (models / "checked.sql").write_text(CHECKED_MODEL.format(volatile=", volatile_columns=['updated_at']"))
    with pytest.raises(DbtRunError, match="volatile_columns names 'updated_at', a unique_key or incremental_column"):
        project.run("checked")
    # A column read from the tenants' table is data, not a load time: left out of the check, an
    # in-place change to it would never reach the table.
    (models / "checked.sql").write_text(CHECKED_MODEL.format(volatile=", volatile_columns=['loaded_at', 'email']"))
    with pytest.raises(DbtRunError, match="volatile_columns names 'email', a column of the tenants' users table"):
        project.run("checked")


@pytest.mark.tenants(n=3, rows=3)
def test_incremental_drops_a_row_that_became_invalid_like_a_full_refresh(tenant_database, dbt_project):
    dbt_project.run("all_users")
    sql(tenant_database, "update tenant_a.users set email = null, updated_at = now() where user_id = 1")
    dbt_project.run("all_users")
    incremental = table_rows(tenant_database)
    dbt_project.run("all_users", full_refresh=True)
    assert incremental == table_rows(tenant_database)
    assert ("tenant_a", 1) not in [r[:2] for r in incremental]


@pytest.mark.tenants(n=3, rows=2)
def test_incremental_after_a_tenant_column_type_change_asks_for_a_full_refresh(tenant_database, dbt_project):
    dbt_project.run("all_users")
    before = table_rows(tenant_database)
    sql(tenant_database, "alter table tenant_b.users alter column registration_date type timestamp")
    with pytest.raises(DbtRunError, match="columns of all_users changed.*registration_date timestamp"):
        dbt_project.run("all_users")
    assert table_rows(tenant_database) == before


@pytest.mark.tenants(n=3, rows=2)
def test_incremental_column_without_unique_key_is_a_compile_error(tenant_database, probe_project):
    models, project = probe_project
    (models / "no_key.sql").write_text(
        "{{ config(materialized='tenant_union', incremental_column='updated_at') }}\n"
        "with u as ({{ multitenant_analytics.union_tenant_tables('users') }})\n"
        "select u.tenant_id, u.user_id, u.updated_at from u"
    )
    with pytest.raises(DbtRunError, match="incremental_column 'updated_at' without unique_key"):
        project.run("no_key")
    assert sql(tenant_database, "select to_regclass('analytics.no_key')") == [(None,)]


@pytest.mark.tenants(n=3, rows=2)
def test_a_tenant_union_model_must_call_the_union_once(tenant_database, probe_project):
    models, project = probe_project
    (models / "no_union.sql").write_text("{{ config(materialized='tenant_union') }}\nselect 1 as x")
    (models / "two_unions.sql").write_text(
        "{{ config(materialized='tenant_union') }}\n"
        "select tenant_id from ({{ multitenant_analytics.union_tenant_tables('users') }}) as a\n"
        "union all select tenant_id from ({{ multitenant_analytics.union_tenant_tables('users') }}) as b"
    )
    with pytest.raises(DbtRunError, match="no_union does not call multitenant_analytics.union_tenant_tables"):
        project.run("no_union")
    with pytest.raises(DbtRunError, match=r"two_unions must call .*exactly once \(found 2\)"):
        project.run("two_unions")


@pytest.mark.tenants(n=4, rows=3, seed=6)
def test_a_tenants_identical_rows_are_all_kept(tenant_database, dbt_project):
    # A table without a key may hold the same row twice, and the union keeps both (UNION ALL, no DISTINCT)
    # in every branch of a batch, first or not, whichever way the batch is rendered: with batches of two,
    # tenant_d's extra column gives the second batch two column layouts, rendered tenant by tenant.
    spec = tenant_database.spec
    kept = expected_all_users(spec.seed, plan_tenants(spec.names, rows=spec.rows, seed=spec.seed))
    truth = tenant_database.truth
    for name in (t.name for t in truth.tenants):
        user_id = next(row[1] for row in kept if row[0] == name)  # a row all_users keeps
        sql(tenant_database, f"alter table {name}.users drop constraint users_pkey")
        sql(tenant_database, f"insert into {name}.users select * from {name}.users where user_id = %s", user_id)
    sql(tenant_database, "alter table tenant_d.users add column nickname text")
    # Outside a tenant_union build (a view or table model, dbt compile) the union is plain SQL.
    union = compiled(dbt_project, "{{ multitenant_analytics.union_tenant_tables('users', batch_size=2) }}")
    counts = dict(sql(tenant_database, f"select tenant_id, count(*) from ({union}) as u group by 1"))
    assert counts == {t.name: t.source_rows + 1 for t in truth.tenants}
    dbt_project.run("all_users", "tenant_a_users", vars={"tenant_processing": {"batch_size": 2}})
    counts = dict(sql(tenant_database, "select tenant_id, count(*) from analytics.all_users group by 1"))
    assert counts == {name: rows + 1 for name, rows in truth.kept_by_tenant.items()}
    # And the tenant_a_users view over it (no DISTINCT there either).
    assert sql(tenant_database, "select count(*) from analytics.tenant_a_users") == [(counts["tenant_a"],)]


@pytest.mark.tenants(n=3, rows=3, seed=8)
def test_dbt_build_builds_the_table_dbt_run_builds(tenant_database, dbt_project):
    dbt_project.invoke("build", "--select", "all_users", "--resource-type", "model")
    spec = tenant_database.spec
    query = lambda statement: sql(tenant_database, statement)  # noqa: E731
    all_users_checks.rows_equal_python_truth(
        query, "analytics.all_users", spec.seed, plan_tenants(spec.names, rows=spec.rows, seed=spec.seed)
    )


@pytest.mark.tenants(n=3, rows=3, seed=15)
def test_columns_differing_by_case_take_the_lower_case_or_the_asked_spelling(tenant_database, dbt_project):
    # tenant_a, the first branch of every batch, spells it "Email", the others email: the column is email.
    sql(tenant_database, 'alter table tenant_a.users rename column email to "Email"')
    # A column every tenant spells in mixed case keeps its spelling.
    for tenant in ("tenant_a", "tenant_b", "tenant_c"):
        sql(tenant_database, f"""alter table {tenant}.users add column "Nickname" text default 'n' || random()""")
    dbt_project.run("all_users")
    spec = tenant_database.spec
    all_users_checks.rows_equal_python_truth(
        lambda statement: sql(tenant_database, statement),
        "analytics.all_users",
        spec.seed,
        plan_tenants(spec.names, rows=spec.rows, seed=spec.seed),
    )
    expected = sql(
        tenant_database,
        """select 'tenant_a', user_id, "Email", "Nickname" from tenant_a.users
        union all select 'tenant_b', user_id, email, "Nickname" from tenant_b.users
        union all select 'tenant_c', user_id, email, "Nickname" from tenant_c.users""",
    )
    union = compiled(dbt_project, "{{ multitenant_analytics.union_tenant_tables('users') }}")
    actual = sql(tenant_database, f'select tenant_id, user_id, email, "Nickname" from ({union}) as u')
    assert sorted(actual) == sorted(expected)
    # A spelling asked for in `columns` names the column, whatever the tenants' spellings.
    asked = "['user_id', 'EMAIL', 'Nickname']"
    union = compiled(dbt_project, f"{{{{ multitenant_analytics.union_tenant_tables('users', columns={asked}) }}}}")
    actual = sql(tenant_database, f'select tenant_id, user_id, "EMAIL", "Nickname" from ({union}) as u')
    assert sorted(actual) == sorted(expected)


@pytest.mark.tenants(n=3, rows=3)
def test_two_models_first_built_at_once_share_the_run_log(tenant_database, probe_project):
    """The first build of two tenant_union models in one schema, their swaps overlapping (dbt runs
    models in threads): both create the run log if it is not there. The second must wait for the
    first's swap, not fail on PostgreSQL's catalog ("duplicate key value violates unique constraint
    pg_type_typname_nsp_index"). Gates make the overlap certain: first_log's swap stays open in its
    post-hook while second_log, held in its pre-hook until then, reaches its own swap."""
    db = tenant_database
    models, project = probe_project
    union = "with u as ({{ multitenant_analytics.union_tenant_tables('users') }}) select u.tenant_id, u.user_id from u"
    (models / "first_log.sql").write_text(
        "{{ config(materialized='tenant_union', post_hook='lock table public.gate_b in access share mode') }}\n" + union
    )
    (models / "second_log.sql").write_text(
        "{{ config(materialized='tenant_union', pre_hook='lock table public.gate_a in access share mode') }}\n" + union
    )
    sql(db, "create table public.gate_a (x int); create table public.gate_b (x int)")
    assert sql(db, "select to_regclass('analytics.tenant_union_runs')") == [(None,)]
    waits = "select count(*) > 0 from pg_stat_activity where wait_event_type = 'Lock' and application_name like %s"
    failure = []

    def build():
        try:
            project.run("first_log", "second_log")
        except DbtRunError as exc:
            failure.append(exc)

    runner = threading.Thread(target=build)
    with (
        holding(db.conninfo, "lock table public.gate_a in access exclusive mode") as gate_a,
        holding(db.conninfo, "lock table public.gate_b in access exclusive mode") as gate_b,
    ):
        runner.start()
        try:
            # first_log has created the run log in its open swap; second_log waits at its gate.
            assert wait_until(db.conninfo, waits, ("%tenant_union first_log run%",)), "first_log never waited"
            assert wait_until(db.conninfo, waits, ("%tenant_union second_log run%",)), "second_log never waited"
            gate_a.commit()
            # second_log builds, then waits in its swap for first_log's.
            assert wait_until(
                db.conninfo,
                "select count(*) > 0 from pg_stat_activity where wait_event_type = 'Lock' and "
                "application_name like %s and query not like %s",
                ("%tenant_union second_log run%", "%gate_a%"),
            ), "second_log never reached its swap"
        finally:
            gate_a.commit()
            gate_b.commit()
            runner.join(timeout=300)
    assert not failure, failure[0]
    for model in ("first_log", "second_log"):
        assert sql(db, f"select count(*) from analytics.{model}") == [(db.truth.source_rows,)]
    logged = sql(db, "select model, tenants from analytics.tenant_union_runs order by 1")
    assert logged == [("first_log", 3), ("second_log", 3)]
