"""The tenant_union materialization's Redshift path, run on a real PostgreSQL.

No Redshift cluster is reachable (redshift_connector cannot talk to PostgreSQL), so what the
Redshift-only macros *do* is checked here instead: a project that installs the package dispatches
the macros the package overrides for Redshift (``tenant_union_redshift.sql``: the claim-table run
lock, plain statements per batch and per change check, ``LOCK`` without a mode, ``set
statement_timeout``) to their ``redshift__`` variants, and the Redshift functions those call
(STV_SESSIONS, GETDATE) are emulated in ``public``. The builds must give the
generator's rows, incremental reruns must read only changed tenants and equal a full rebuild, and
the run lock must take over a dead run's claim and refuse a live one. Whether the SQL is Redshift's
dialect is test_redshift_gate.py's job."""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml

from tenant_harness.errors import DbtRunError
from tenant_harness.runner import DbtProject, default_project_dir
from tenant_harness.tenants import expected_all_users, plan_tenants
from tests.suites.db import run_sql

pytestmark = pytest.mark.local

CONSUMER = Path(__file__).resolve().parents[1] / "consumer_project"

# Redshift's functions and system view the redshift__ macros call, as Redshift documents them, for
# the arguments they get: STV_SESSIONS.process is a session's pid, and a regular user (the dbt role
# of docs/redshift.md) sees only their own sessions in it (r_STV_SESSIONS, "STV_SESSIONS - Amazon
# Redshift": "Superusers can see all rows; regular users can see only their own data").
REDSHIFT_EMULATION = """
create view public.stv_sessions as
select pid as process from pg_catalog.pg_stat_activity where usename = current_user;
create function public.getdate() returns timestamp language sql stable as 'select localtimestamp';
"""

# Each macro tenant_union_redshift.sql overrides, with its arguments; not discovery's, nor
# tenant_fingerprint_sql: its cast to varchar(max) is Redshift's syntax, which PostgreSQL does not
# parse, so PostgreSQL's fingerprint stands in for it (the checks and the table's fingerprints are
# still read the Redshift way).
REDSHIFT_MACROS = [
    "tenant_union_lock(relation, timeouts)",
    "tenant_union_unlock(relation)",
    "tenant_union_lock_table(relation, timeouts, mode)",
    "tenant_union_run_batch(batch)",
    "tenant_table_fingerprints(relation, columns, column)",
    "tenant_union_run_checks(checks, timeouts, tx)",
    "tenant_union_set_timeouts(timeouts)",
    "tenant_union_swap_in(existing_relation, statements, timeouts, tx)",
    "tenant_union_finish(relation, backup)",
    "tenant_union_lock_log(relation, timeouts)",
]

MODEL = """
{{ config(
    materialized='tenant_union', incremental_column='updated_at', unique_key=['tenant_id', 'user_id'],
    volatile_columns=['dbt_loaded_at'],
) }}
with unioned as ({{ multitenant_analytics.union_tenant_tables('users') }})
{{ multitenant_analytics.clean_users('unioned') }}
"""

COLUMNS = "tenant_id, user_id, email, first_name, last_name, account_status, updated_at"


def query(db, statement: str, *params) -> list[tuple]:
    return run_sql(db.conninfo, statement, params or None)


def table(db) -> list[tuple]:
    return query(db, f"select {COLUMNS} from analytics.rs_users order by 1, 2")


def last_build(db) -> tuple[bool, int, int]:
    """(incremental, tenants, rows written) of the newest build of rs_users, as recorded."""
    return query(db, "select incremental, tenants, rows_written from analytics.tenant_union_runs "
                     "where model = 'rs_users' order by finished_at desc limit 1")[0]  # fmt: skip


def claims(db) -> list[tuple]:
    return query(db, "select model, run_id, pid from analytics.tenant_union_claims order by 1, 2")


@pytest.fixture
def redshift_path(tenant_database, tmp_path):
    """A project with the model rs_users (all_users' cleaning, incremental), the package installed,
    and the package's Redshift variants dispatched for PostgreSQL."""
    project = tmp_path / "redshift_path"
    shutil.copytree(CONSUMER, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "models"))
    (project / "packages.yml").write_text(yaml.safe_dump({"packages": [{"local": str(default_project_dir())}]}))
    config = yaml.safe_load((project / "dbt_project.yml").read_text())
    config["dispatch"] = [
        {"macro_namespace": "multitenant_analytics", "search_order": [config["name"], "multitenant_analytics"]}
    ]
    config["vars"]["tenant_processing"]["batch_size"] = 2
    config["vars"]["performance"] = {"run_wait_seconds": 2}  # a run that waits for another fails soon
    (project / "dbt_project.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (project / "models").mkdir()
    (project / "models" / "rs_users.sql").write_text(MODEL)
    (project / "macros").mkdir()
    forwards = []
    for signature in REDSHIFT_MACROS:
        name, args = signature.split("(")
        forwards.append(f"{{% macro postgres__{signature} %}}"
                        f"{{{{ return(multitenant_analytics.redshift__{name}({args}) }}}}{{% endmacro %}}")  # fmt: skip
    (project / "macros" / "redshift_path.sql").write_text("\n".join(forwards) + "\n")
    query(tenant_database, REDSHIFT_EMULATION)
    with DbtProject(env=tenant_database.dbt_env(), project_dir=project, work_dir=tmp_path / "dbt", quiet=True) as dbt:
        dbt.invoke("deps")
        yield dbt


@pytest.mark.tenants(n=5, rows=4, seed=21)
def test_builds_on_the_redshift_path_are_exact(tenant_database, redshift_path):
    db, dbt = tenant_database, redshift_path

    dbt.run()
    truth = expected_all_users(db.spec.seed, plan_tenants(db.spec.n, rows=db.spec.rows, seed=db.spec.seed))
    assert [r[:3] for r in table(db)] == [r[:3] for r in truth]
    assert last_build(db) == (False, db.spec.n, len(truth))
    assert claims(db) == []  # the run lock is released

    dbt.run()  # nothing changed: every tenant's fingerprint matches, nothing is read
    assert last_build(db) == (True, db.spec.n, 0)
    assert [r[:3] for r in table(db)] == [r[:3] for r in truth]

    query(db, "update tenant_b.users set email = 'Changed@X.com', updated_at = now() "
              "where user_id = (select min(user_id) from tenant_b.users where email is not null)")  # fmt: skip
    query(db, "delete from tenant_d.users where user_id = (select max(user_id) from tenant_d.users "
              "where email is not null)")  # fmt: skip
    dbt.run()
    incremental = table(db)
    changed = sum(1 for r in incremental if r[0] in ("tenant_b", "tenant_d"))
    assert last_build(db) == (True, db.spec.n, changed)  # only the two changed tenants were read
    assert ("tenant_b", "changed@x.com") in [(r[0], r[2]) for r in incremental]
    dbt.run(full_refresh=True)
    assert incremental == table(db)
    assert last_build(db) == (False, db.spec.n, len(incremental))

    leftovers = query(db, "select relname from pg_class where relname like 'rs\\_users\\_\\_%'")
    assert leftovers == []


@pytest.mark.tenants(n=3, rows=3, seed=22)
def test_the_redshift_run_lock_takes_over_a_dead_claim_and_refuses_a_live_one(tenant_database, redshift_path):
    db, dbt = tenant_database, redshift_path
    dbt.run()  # creates the claim table
    model = query(db, """select format('"%s"."analytics"."rs_users"', current_database())""")[0][0]
    other = model.replace("rs_users", "other_model")
    with psycopg.connect(db.conninfo, autocommit=True) as holder:
        live = holder.info.backend_pid
        dead = query(db, "select coalesce(max(pid), 0) + 100000 from pg_stat_activity")[0][0]
        insert = "insert into analytics.tenant_union_claims values (%s, %s, %s, localtimestamp, current_user)"
        query(db, insert, model, "dead-run", dead)  # a run that died holding the lock
        query(db, insert, other, "other-run", live)  # another model's run, alive
        user = query(db, "select min(user_id) from analytics.rs_users where tenant_id = 'tenant_a'")[0][0]
        update = "update tenant_a.users set email = %s, updated_at = now() where user_id = %s"
        query(db, update, "One@X.com", user)
        dbt.run()
        assert ("tenant_a", user, "one@x.com") in [r[:3] for r in table(db)]
        assert claims(db) == [(other, "other-run", live)]

        query(db, insert, model, "live-run", live)  # a run of this model, alive
        before = table(db)
        query(db, update, "Two@X.com", user)
        with pytest.raises(DbtRunError, match=f"is being built by another run.*run live-run, pid {live}"):
            dbt.run()
        assert table(db) == before
        assert claims(db) == sorted([(model, "live-run", live), (other, "other-run", live)])

        query(db, "delete from analytics.tenant_union_claims where run_id = 'live-run'")
        dbt.run()
        assert ("tenant_a", user, "two@x.com") in [r[:3] for r in table(db)]
        assert claims(db) == [(other, "other-run", live)]


@pytest.mark.tenants(n=3, rows=3, seed=23)
def test_the_redshift_run_lock_never_takes_over_another_users_claim(tenant_database, redshift_path):
    """STV_SESSIONS shows a regular user only their own sessions (r_STV_SESSIONS), so another
    user's live run looks dead to this one: its claim must stop this run, naming that user, not be
    taken over (two builds of one table at once, the second dropping the first's staging table)."""
    db, dbt = tenant_database, redshift_path
    dbt.run()  # creates the claim table
    model = query(db, """select format('"%s"."analytics"."rs_users"', current_database())""")[0][0]
    other = f"other_{uuid.uuid4().hex[:8]}"  # roles are server-wide
    query(db, f"create role {other} login")
    endpoint = dataclasses.replace(db.endpoint, user=other)
    with psycopg.connect(endpoint.conninfo(db.name), autocommit=True) as holder:
        live = holder.info.backend_pid
        assert query(db, "select count(*) from stv_sessions where process = %s", live) == [(0,)]  # unseen
        query(db, "insert into analytics.tenant_union_claims values (%s, 'other-user-run', %s, localtimestamp, %s)",
              model, live, other)  # fmt: skip
        before = table(db)
        with pytest.raises(DbtRunError, match=f"run other-user-run, pid {live}, user {other}.*cannot see {other}"):
            dbt.run()
        assert table(db) == before
        assert claims(db) == [(model, "other-user-run", live)]
