"""Hostile input and faults: correct output or a clear error, nothing lost, nothing left behind."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql as q

from tenant_harness.errors import DbtRunError
from tenant_harness.runner import DbtProject
from tenant_harness.tenants import expected_all_users, plan_tenants
from tests.suites.db import dbt_process, holding, run_sql, wait_until, waiting_for

pytestmark = pytest.mark.local

HOSTILE = (
    "Tenant_A", "TENANT_a", "tenant_ spaced", 'tenant_x"y', "tenant_o'brien", "tenant_x; drop table users",
    "tenant_日本語", "tenant_back\\slash", "tenant_" + "z" * 56, "tenant_%pct", "tenant__double",
)  # fmt: skip
COLUMNS = ("tenant_id, user_id, email, first_name, last_name, registration_date, last_login_date, "
           "account_status, subscription_tier, created_at, updated_at")  # fmt: skip


@pytest.mark.tenants(tenant_names=HOSTILE, rows=3, seed=9)
def test_hostile_schema_names_are_quoted_and_kept_exactly(tenant_database, dbt_project):
    assert len(HOSTILE[8].encode()) == 63  # the longest name PostgreSQL keeps whole
    dbt_project.run()
    dbt_project.test()
    actual = run_sql(tenant_database.conninfo, f"select {COLUMNS} from analytics.all_users")
    specs = plan_tenants(list(HOSTILE), rows=3, seed=9)
    assert sorted(actual, key=lambda r: (r[0], r[1])) == expected_all_users(9, specs)
    assert {r[0] for r in actual} == set(HOSTILE)  # tenant_id is the exact schema name
    # Nothing was injected: every tenant still has its table.
    tables = run_sql(tenant_database.conninfo, "select count(*) from pg_class where relname = 'users'")
    assert tables == [(len(HOSTILE),)]


@pytest.mark.tenants(n=3, rows=2)
def test_empty_table_and_extra_columns(tenant_database, dbt_project):
    conninfo = tenant_database.conninfo
    run_sql(conninfo, "truncate tenant_a.users")
    run_sql(conninfo, "alter table tenant_b.users add column shoe_size integer")
    dbt_project.run("all_users")  # raises if the run fails
    counts = dict(run_sql(conninfo, "select tenant_id, count(*) from analytics.all_users group by 1"))
    assert counts == {t: n for t, n in tenant_database.truth.kept_by_tenant.items() if t != "tenant_a"}
    with pytest.raises(DbtRunError, match="assert_every_tenant_present"):  # an empty tenant is flagged
        dbt_project.test()


@pytest.mark.tenants(n=3, rows=2)
def test_conflicting_column_types_are_a_clear_error(tenant_database, dbt_project):
    run_sql(tenant_database.conninfo, "alter table tenant_b.users alter column email type integer using 0")
    with pytest.raises(DbtRunError, match="column users.email has types .* no safe common type"):
        dbt_project.run("all_users")
    dbt_project.run("all_users", vars={"tenant_column_types": {"email": "text"}})


@pytest.mark.tenants(n=3, rows=2)
def test_unknown_setting_is_a_clear_error(tenant_database, dbt_project):
    with pytest.raises(DbtRunError, match="unknown setting tenant_processing.batchsize"):
        dbt_project.run("all_users", vars={"tenant_processing": {"batchsize": 10}})


@pytest.mark.tenants(n=3, rows=2)
def test_parallel_group_size_other_than_one_is_an_error_not_ignored(tenant_database, dbt_project):
    # Batches run one at a time: a setting asking for parallel batches must not be silently ignored.
    for value in (4, True):
        with pytest.raises(DbtRunError, match=r"parallel_group_size is (4|true), but batches run one at a time"):
            dbt_project.run("all_users", vars={"tenant_processing": {"parallel_group_size": value}})
    dbt_project.run("all_users", vars={"tenant_processing": {"parallel_group_size": 1}})
    _rows_equal_truth(tenant_database)


@pytest.mark.tenants(n=3, rows=2)
def test_unreadable_tenant_fails_or_is_skipped_by_config(tenant_database, dbt_work_dir):
    admin = tenant_database.conninfo
    run_sql(admin, "create role analyst login")
    run_sql(admin, q.SQL("grant create on database {} to analyst").format(q.Identifier(tenant_database.name)))
    for tenant in ("tenant_a", "tenant_b"):
        run_sql(admin, f"grant usage on schema {tenant} to analyst; grant select on {tenant}.users to analyst")
    endpoint = dataclasses.replace(tenant_database.endpoint, user="analyst")
    with DbtProject(
        env=endpoint.dbt_env(tenant_database.name), work_dir=dbt_work_dir, quiet=True, artifacts=False
    ) as project:
        with pytest.raises(
            DbtRunError, match=r"privilege on users in 1 tenant\(s\): tenant_c\. Hint: grant usage/select to analyst"
        ):
            project.run("all_users")
        result = project.run("all_users", vars={"tenant_processing": {"unreadable_tenant": "warn"}})
    assert any("tenant_c" in w for w in result.warnings)
    counts = dict(run_sql(admin, "select tenant_id, count(*) from analytics.all_users group by 1"))
    assert counts == {"tenant_a": 2, "tenant_b": 2}


def _when_reading(conninfo: str, tenant: str, statement: str, done: threading.Event, ran: list):
    """A thread body: wait until a dbt batch is reading ``tenant`` (its view sleeps), then run
    ``statement``; give up only when the run is over (``done``), however long dbt takes to get
    there on a busy machine."""

    def body():
        probe = (
            "select count(*) from pg_stat_activity where pid <> pg_backend_pid() and state = 'active' and query like %s"
        )
        # One connection for every look (a new one per look can take longer than the batch lasts
        # on a busy machine); autocommit, so each look sees the activity as it is now.
        with psycopg.connect(conninfo, autocommit=True) as conn:
            while not done.is_set():
                if conn.execute(probe, (f'%"{tenant}"."users"%',)).fetchone()[0]:
                    conn.execute(statement)
                    ran.append(True)
                    return
                time.sleep(0.02)

    return body


@contextlib.contextmanager
def _while_reading(conninfo: str, tenant: str, statement: str, *, sleep: int = 1):
    """Make ``tenant``'s users slow to read (each row sleeps), and run ``statement`` from another
    connection while a dbt batch is reading it. Fails if the run ended before that happened (the
    probe never saw the batch): the test then proves nothing."""
    run_sql(conninfo, f"alter table {tenant}.users rename to users_data; create view {tenant}.users as "
            f"select * from {tenant}.users_data where pg_sleep({sleep}) is not null")  # fmt: skip
    done, ran = threading.Event(), []
    thread = threading.Thread(target=_when_reading(conninfo, tenant, statement, done, ran))
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if not ran:
            raise AssertionError(f"no batch was seen reading {tenant} before the run ended: {statement!r} never ran")


@pytest.mark.tenants(n=6, rows=2)
def test_tenant_dropped_mid_run_fails_the_run_and_keeps_the_last_good_table(tenant_database, dbt_project):
    conninfo = tenant_database.conninfo
    dbt_project.run("all_users")
    before = run_sql(conninfo, "select tenant_id, user_id from analytics.all_users order by 1, 2")
    # The run is mid-way (reading tenant_b) when tenant_f disappears.
    with (
        _while_reading(conninfo, "tenant_b", "drop schema tenant_f cascade"),
        pytest.raises(DbtRunError, match="tenant_f"),
    ):
        dbt_project.run("all_users", full_refresh=True, vars={"tenant_processing": {"batch_size": 1}})
    assert run_sql(conninfo, "select tenant_id, user_id from analytics.all_users order by 1, 2") == before
    dbt_project.run("all_users", full_refresh=True)  # the next run succeeds, no manual cleanup
    tenants = {r[0] for r in run_sql(conninfo, "select distinct tenant_id from analytics.all_users")}
    assert tenants == {"tenant_a", "tenant_b", "tenant_c", "tenant_d", "tenant_e"}


@pytest.mark.tenants(n=4, rows=2)
def test_connection_lost_mid_batch_keeps_the_previous_table(tenant_database, dbt_project):
    conninfo = tenant_database.conninfo
    dbt_project.run("all_users")
    before = run_sql(conninfo, "select tenant_id, user_id, dbt_loaded_at from analytics.all_users order by 1, 2")
    kill = (
        "select pg_terminate_backend(pid) from pg_stat_activity "
        "where pid <> pg_backend_pid() and query like '%insert into%tenant_c%'"
    )
    with _while_reading(conninfo, "tenant_c", kill, sleep=2), pytest.raises(DbtRunError):
        dbt_project.run("all_users", full_refresh=True, vars={"tenant_processing": {"batch_size": 1}})
    after = run_sql(conninfo, "select tenant_id, user_id, dbt_loaded_at from analytics.all_users order by 1, 2")
    assert after == before
    run_sql(conninfo, "drop view tenant_c.users; alter table tenant_c.users_data rename to users")
    dbt_project.run("all_users", full_refresh=True)
    leftovers = run_sql(conninfo, "select relname from pg_class where relname like 'all\\_users\\_\\_%'")
    assert leftovers == []


def _rows_equal_truth(db) -> None:
    actual = run_sql(db.conninfo, f"select {COLUMNS} from analytics.all_users")
    specs = plan_tenants(db.spec.names, rows=db.spec.rows, seed=db.spec.seed)
    assert sorted(actual, key=lambda r: (r[0], r[1])) == expected_all_users(db.spec.seed, specs)


def _leftovers(conninfo: str) -> list[tuple]:
    return run_sql(conninfo, "select relname from pg_class where relname like 'all\\_users\\_\\_%'")


@pytest.mark.tenants(n=4, rows=3, seed=11)
def test_two_overlapping_runs_of_a_model_give_the_exact_table(tenant_database, dbt_project, tmp_path):
    conninfo = tenant_database.conninfo
    settings = {"tenant_processing": {"batch_size": 1}, "performance": {"lock_timeout_seconds": 0}}
    seen = {}

    def release_once_the_second_run_waits(held):
        seen["waited"] = wait_until(conninfo, waiting_for(conninfo, "advisory"))
        held.commit()

    with holding(conninfo, "lock table tenant_c.users in access exclusive mode") as held:
        # The first run stops at tenant_c, its staging half full, holding the model's lock.
        first = dbt_process(
            tenant_database.dbt_env(), ["run", "-s", "all_users"], work_dir=tmp_path / "a", vars=settings
        )
        try:
            assert wait_until(conninfo, waiting_for(conninfo, relation="tenant_c.users")), "the first run never waited"
            releaser = threading.Thread(target=release_once_the_second_run_waits, args=(held,))
            releaser.start()
            dbt_project.run("all_users", full_refresh=True, vars=settings)  # waits for the first, then builds
            releaser.join()
        finally:
            output, _ = first.communicate(timeout=300)
    assert seen["waited"], "the second run did not wait for the first"
    assert first.returncode == 0, output
    _rows_equal_truth(tenant_database)
    written = run_sql(conninfo, "select rows_written from analytics.tenant_union_runs order by finished_at")
    kept = tenant_database.truth.kept_rows
    assert written == [(kept,), (kept,)]  # each run wrote every row once: nothing lost, nothing doubled
    assert _leftovers(conninfo) == []


@pytest.mark.tenants(n=4, rows=3, seed=12)
def test_a_run_that_waits_too_long_for_another_fails_naming_it(tenant_database, dbt_project, tmp_path):
    conninfo = tenant_database.conninfo
    dbt_project.run("all_users")
    with holding(conninfo, "lock table tenant_c.users in access exclusive mode") as held:
        first = dbt_process(
            tenant_database.dbt_env(), ["run", "-s", "all_users", "--full-refresh"], work_dir=tmp_path / "a",
            vars={"performance": {"lock_timeout_seconds": 0}},
        )  # fmt: skip
        try:
            assert wait_until(conninfo, waiting_for(conninfo, relation="tenant_c.users")), "the first run never waited"
            with pytest.raises(DbtRunError) as failed:
                dbt_project.run("all_users", full_refresh=True, vars={"performance": {"run_wait_seconds": 1}})
        finally:
            held.commit()
            output, _ = first.communicate(timeout=300)
    message = str(failed.value)
    assert "model all_users" in message and "being built by another run" in message
    assert re.search(r"pid \d+, application '[^']*tenant_union all_users run [0-9a-f]{12}'", message), message
    assert first.returncode == 0, output
    _rows_equal_truth(tenant_database)
    assert _leftovers(conninfo) == []


@pytest.mark.tenants(n=3, rows=2)
def test_builds_leave_no_transaction_warning_in_the_server_log(tenant_server, tenant_database, dbt_project):
    if not hasattr(tenant_server, "log_path"):
        pytest.skip("reads the embedded server's log")
    log = tenant_server.log_path
    start = log.stat().st_size
    with psycopg.connect(tenant_database.conninfo, autocommit=True) as conn:
        conn.execute("commit")  # the warning this test looks for does reach the log
    assert "there is no transaction in progress" in log.read_text(errors="replace")[start:]
    start = log.stat().st_size
    dbt_project.run("all_users")  # full build (swap)
    run_sql(tenant_database.conninfo, "update tenant_a.users set email = 'x@y.z', updated_at = now() where user_id = 1")
    dbt_project.run("all_users")  # incremental (apply)
    dbt_project.run("all_users", full_refresh=True)
    text = log.read_text(errors="replace")[start:]
    assert "no transaction in progress" not in text and "already a transaction in progress" not in text, text


@pytest.mark.tenants(n=4, rows=3, seed=13)
def test_inherited_and_partitioned_tenant_tables_give_each_tenant_its_own_rows(tenant_database, dbt_project):
    conninfo = tenant_database.conninfo
    # tenant_b's table inherits from tenant_a's: read without ONLY, tenant_a would get tenant_b's rows too.
    run_sql(conninfo, "alter table tenant_b.users inherit tenant_a.users")
    # tenant_c's table is partitioned: its rows are in its partition, which ONLY would skip.
    run_sql(conninfo, "alter table tenant_c.users rename to users_old; "
            "create table tenant_c.users (like tenant_c.users_old) partition by list (account_status); "
            "create table tenant_c.users_all partition of tenant_c.users default; "
            "insert into tenant_c.users select * from tenant_c.users_old; drop table tenant_c.users_old")  # fmt: skip
    # Another of tenant_c's tables has a child: that does not make its users a table to read with ONLY.
    run_sql(
        conninfo, "create table tenant_c.events (x int); create table tenant_c.events_1 () inherits (tenant_c.events)"
    )
    both = run_sql(conninfo, "select count(*) from tenant_a.users")[0][0]
    assert both == 2 * run_sql(conninfo, "select count(*) from only tenant_a.users")[0][0]  # the trap is set
    dbt_project.run("all_users")
    _rows_equal_truth(tenant_database)


@pytest.mark.tenants(n=3, rows=2)
def test_row_level_security_the_role_does_not_bypass_makes_a_tenant_unreadable(tenant_database, dbt_work_dir):
    admin = tenant_database.conninfo
    role = f"rls_{uuid.uuid4().hex[:8]}"  # roles are server-wide
    run_sql(admin, f"create role {role} login")
    run_sql(
        admin, q.SQL("grant create on database {} to {}").format(q.Identifier(tenant_database.name), q.Identifier(role))
    )
    for tenant in ("tenant_a", "tenant_b", "tenant_c"):
        run_sql(admin, f"grant usage on schema {tenant} to {role}; grant select on {tenant}.users to {role}")
    # The policy shows the role one of tenant_c's two rows: read as is, a silently partial table.
    run_sql(admin, "alter table tenant_c.users enable row level security; "
            "create policy odd_only on tenant_c.users using (user_id % 2 = 1)")  # fmt: skip
    endpoint = dataclasses.replace(tenant_database.endpoint, user=role)
    with DbtProject(
        env=endpoint.dbt_env(tenant_database.name), work_dir=dbt_work_dir, quiet=True, artifacts=False
    ) as project:
        with pytest.raises(DbtRunError, match=r"in 1 tenant\(s\): tenant_c.*row level security"):
            project.run("all_users")
        result = project.run("all_users", vars={"tenant_processing": {"unreadable_tenant": "warn"}})
    assert any("tenant_c" in w for w in result.warnings)
    counts = dict(run_sql(admin, "select tenant_id, count(*) from analytics.all_users group by 1"))
    assert counts == {"tenant_a": 2, "tenant_b": 2}


@pytest.mark.tenants(n=6, rows=2)
def test_a_failing_batch_names_the_tenant_that_breaks_it(tenant_database, dbt_project):
    conninfo = tenant_database.conninfo
    dbt_project.run("all_users")
    before = run_sql(conninfo, "select tenant_id, user_id from analytics.all_users order by 1, 2")
    columns = "email, first_name, last_name, registration_date, last_login_date, account_status, subscription_tier"
    run_sql(conninfo, "alter table tenant_c.users rename to users_data; create view tenant_c.users as select "
            f"(user_id / (user_id - user_id))::bigint as user_id, {columns}, created_at, updated_at "
            "from tenant_c.users_data")  # fmt: skip
    with pytest.raises(
        DbtRunError, match=r"tenant_union all_users: tenant tenant_c breaks batch 1/2: division by zero"
    ):
        dbt_project.run("all_users", full_refresh=True, vars={"tenant_processing": {"batch_size": 4}})
    assert run_sql(conninfo, "select tenant_id, user_id from analytics.all_users order by 1, 2") == before


@pytest.mark.tenants(n=6, rows=2, seed=5)
def test_a_failing_later_batch_names_its_tenant_and_the_next_run_is_exact(tenant_database, dbt_project):
    # Batch 3 runs in a transaction of its own (begin ... commit sent with it), not in the first one.
    conninfo = tenant_database.conninfo
    dbt_project.run("all_users")
    before = run_sql(conninfo, f"select {COLUMNS} from analytics.all_users order by 1, 2")
    columns = "email, first_name, last_name, registration_date, last_login_date, account_status, subscription_tier"
    run_sql(conninfo, "alter table tenant_e.users rename to users_data; create view tenant_e.users as select "
            f"(user_id / (user_id - user_id))::bigint as user_id, {columns}, created_at, updated_at "
            "from tenant_e.users_data")  # fmt: skip
    with pytest.raises(DbtRunError, match=r"all_users: tenant tenant_e breaks batch 3/3: division by zero"):
        dbt_project.run("all_users", full_refresh=True, vars={"tenant_processing": {"batch_size": 2}})
    assert run_sql(conninfo, f"select {COLUMNS} from analytics.all_users order by 1, 2") == before
    run_sql(conninfo, "drop view tenant_e.users; alter table tenant_e.users_data rename to users")
    dbt_project.run("all_users", full_refresh=True, vars={"tenant_processing": {"batch_size": 2}})
    _rows_equal_truth(tenant_database)
    assert _leftovers(conninfo) == []
    (runs,) = run_sql(conninfo, "select batch_stats from analytics.tenant_union_runs order by finished_at desc limit 1")
    assert [b[:2] for b in json.loads(runs[0])] == [[2, n] for n in _kept_per_batch(tenant_database, 2)]


def _kept_per_batch(db, size: int) -> list[int]:
    """Rows the truth keeps per batch of `size` tenants, in tenant name order."""
    specs = plan_tenants(db.spec.names, rows=db.spec.rows, seed=db.spec.seed)
    kept: dict[str, int] = {}
    for row in expected_all_users(db.spec.seed, specs):
        kept[row[0]] = kept.get(row[0], 0) + 1
    names = sorted(s.name for s in specs)
    return [sum(kept.get(n, 0) for n in names[i : i + size]) for i in range(0, len(names), size)]


@pytest.mark.tenants(n=3, rows=2)
def test_a_batch_that_waits_too_long_for_a_lock_names_the_table_and_its_holder(tenant_database, dbt_project):
    conninfo = tenant_database.conninfo
    dbt_project.run("all_users")
    before = run_sql(conninfo, "select tenant_id, user_id from analytics.all_users order by 1, 2")
    with (
        holding(conninfo + " application_name=blocker", "lock table tenant_b.users in access exclusive mode"),
        pytest.raises(DbtRunError) as failed,
    ):
        dbt_project.run("all_users", full_refresh=True, vars={"performance": {"lock_timeout_seconds": 1}})
    message = str(failed.value)
    assert "batch 1/1 (tenants tenant_a, tenant_b, tenant_c) waited more than 1 s" in message, message
    assert re.search(r"tenant_b\.users held by pid \d+ \(application 'blocker'", message), message
    assert run_sql(conninfo, "select tenant_id, user_id from analytics.all_users order by 1, 2") == before


@pytest.mark.tenants(n=3, rows=2)
def test_a_batch_past_the_query_timeout_fails_naming_its_tenants(tenant_database, dbt_project):
    conninfo = tenant_database.conninfo
    run_sql(conninfo, "alter table tenant_a.users rename to users_data; create view tenant_a.users as "
            "select * from tenant_a.users_data where pg_sleep(2) is not null")  # fmt: skip
    with pytest.raises(DbtRunError) as failed:
        dbt_project.run("all_users", vars={"performance": {"query_timeout_seconds": 1}})
    message = str(failed.value)
    assert "batch 1/1 (tenants tenant_a, tenant_b, tenant_c)" in message and "statement timeout" in message, message
    assert "performance.query_timeout_seconds: 1 s" in message


def _shown(names: list[str], first: int) -> str:
    """How an error lists a batch's tenants: the first ones by name, then how many more."""
    return ", ".join(names[:first]) + (f" and {len(names) - first} more" if len(names) > first else "")


@pytest.mark.parametrize("n", [pytest.param(n, marks=pytest.mark.tenants(n=n, rows=2)) for n in (3, 4, 10, 11)])
def test_a_timed_out_change_check_or_batch_names_its_first_tenants_and_how_many_more(tenant_database, dbt_project, n):
    conninfo = tenant_database.conninfo
    names = sorted(t.name for t in tenant_database.truth.tenants)
    assert len(names) == n
    settings = {"tenant_processing": {"batch_size": n}, "performance": {"query_timeout_seconds": 1}}
    dbt_project.run("all_users", vars=settings)
    run_sql(conninfo, "alter table tenant_a.users rename to users_data; create view tenant_a.users as "
            "select * from tenant_a.users_data where pg_sleep(2) is not null")  # fmt: skip
    with pytest.raises(DbtRunError) as failed:
        dbt_project.run("all_users", vars=settings)  # incremental: its change check reads every tenant
    message = str(failed.value)
    assert f"the change check of batch 1/1 (tenants {_shown(names, 3)}): canceling statement" in message, message
    with pytest.raises(DbtRunError) as failed:
        dbt_project.run("all_users", full_refresh=True, vars=settings)
    message = str(failed.value)
    assert f"all_users: batch 1/1 (tenants {_shown(names, 10)}): canceling statement" in message, message


@pytest.mark.tenants(n=3, rows=2)
def test_the_swap_waits_for_a_reader_at_most_the_lock_timeout_and_names_it(tenant_database, dbt_project):
    conninfo = tenant_database.conninfo
    dbt_project.run("all_users")
    before = run_sql(conninfo, "select tenant_id, user_id from analytics.all_users order by 1, 2")
    # A reader with a transaction open on the table: the swap must not queue every later reader behind it.
    with (
        holding(conninfo + " application_name=long_report", "select count(*) from analytics.all_users"),
        pytest.raises(DbtRunError) as failed,
    ):
        dbt_project.run("all_users", full_refresh=True, vars={"performance": {"lock_timeout_seconds": 1}})
    message = str(failed.value)
    assert "waited more than 1 s (performance.lock_timeout_seconds) for a lock on" in message, message
    assert re.search(r"held by pid \d+ \(application 'long_report', user \w+, idle in transaction", message), message
    assert run_sql(conninfo, "select tenant_id, user_id from analytics.all_users order by 1, 2") == before
    dbt_project.run("all_users", full_refresh=True)  # the reader gone, the next run swaps
    assert _leftovers(conninfo) == []


def test_a_killed_harness_leaves_no_dbt_work_or_profiles_folder_behind(tmp_path):
    import signal
    import subprocess
    import sys

    from tenant_harness.runner import DbtProject

    child = subprocess.Popen(
        [sys.executable, "-c", "import time; from tenant_harness.runner import DbtProject; "
         "p = DbtProject(env={}); print(p.work_dir, p.profiles_dir, flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    folders = [Path(f) for f in child.stdout.readline().split()]
    assert len(folders) == 2 and all(f.is_dir() for f in folders)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert all(f.is_dir() for f in folders)  # killed outright: nothing of it ran
    with DbtProject(env={}) as project:  # the next harness reaps them
        assert [f for f in folders if f.exists()] == []
        assert project.work_dir.is_dir() and project.profiles_dir.is_dir()  # and keeps its own
    assert not project.work_dir.exists() and not project.profiles_dir.exists()


@pytest.mark.tenants(n=3, rows=3, seed=14)
def test_a_column_differing_only_by_case_is_read_with_a_warning_not_lost(tenant_database, dbt_project):
    run_sql(tenant_database.conninfo, 'alter table tenant_b.users rename column email to "Email"')
    result = dbt_project.run("all_users")
    assert any("tenant_b" in w and "users.Email" in w and "only by case" in w for w in result.warnings), result.warnings
    _rows_equal_truth(tenant_database)  # tenant_b's rows are all there, emails included
    run_sql(tenant_database.conninfo, 'alter table tenant_c.users add column "EMAIL" text')
    with pytest.raises(DbtRunError, match="tenant tenant_c's users has columns that differ only by case"):
        dbt_project.run("all_users", full_refresh=True)
