"""The Redshift compatibility gate (tests/local/redshift_gate.py): the project passes it, and each
construct of tests/data/redshift_unsupported.yml seeded into a copy of the project fails it."""

from __future__ import annotations

import re
import shutil

import pytest

from tenant_harness.runner import DEFAULT_PROJECT_DIR, DbtProject

from .redshift_gate import (
    OFFLINE_ENV,
    RUN_LOCK,
    check,
    compiled_nodes,
    existing_tables_replies,
    load_rules,
    masked,
    offline_vars,
    recording_redshift,
    rule_hits,
    sent_statements,
    tenant_drop_replies,
)

pytestmark = pytest.mark.local

MODELS = ("--select", "all_users", "zero_etl_all_users")


def everything_sent(project: DbtProject, vars: dict) -> list[tuple[str, str]]:
    """What the project compiles and sends for redshift: every node compiled; the materialization's
    incremental run and full refresh over an existing table (the first build's statements are the
    full refresh's without the backup rename), a run the tenant-count guard stops, an operation that
    reads the run log."""
    replies = existing_tables_replies()
    statements = compiled_nodes(project, vars=vars)
    statements += sent_statements(project, "run", *MODELS, vars=vars, replies=replies)
    statements += sent_statements(project, "run", *MODELS, "--full-refresh", vars=vars, replies=replies)
    statements += sent_statements(project, "run", *MODELS, vars=vars, replies=tenant_drop_replies(),
                                  expect_failure="Vanished tenants: tenant_gone")  # fmt: skip
    statements += sent_statements(project, "run-operation", "estimate_processing_time",
                                  "--args", "{tenant_count: 100, avg_rows_per_tenant: 10}",
                                  vars=vars, replies=replies)  # fmt: skip
    return statements


def test_every_rule_names_its_documentation_page_and_a_seed():
    rules = load_rules()
    assert len({r.id for r in rules}) == len(rules)
    for r in rules:
        assert r.doc and r.url.startswith("https://docs.aws.amazon.com/redshift/latest/") and r.seed, r.id
        assert (r.pattern is not None) + (r.max_identifier_bytes is not None) + (r.max_statement_bytes is not None) == 1


def test_masking_keeps_names_and_literals_out_of_the_rules():
    rules = load_rules()
    quiet = """select 'now() values (1)' as "current_timestamp", "tenant_x""y" -- string_agg(
               /* generate_series( */ from "analytics"."users" as u"""
    assert rule_hits(quiet, rules) == []
    assert masked(quiet)[1][:2] == ["current_timestamp", 'tenant_x"y']
    # Leader-node-only functions are fine on the leader node (catalog tables or no table at all).
    assert rule_hits("select now() as t", rules) == []
    assert rule_hits("select now() as t from pg_catalog.pg_class", rules) == []
    assert [r.id for r in rule_hits('insert into "a"."b" values (1, now())', rules)] == ["leader-node-function"]


def test_project_passes_the_redshift_gate(tmp_path):
    vars = offline_vars(3, names=["tenant_o'brien", "tenant_back\\slash", "tenant_00003"], drift=True)
    with DbtProject(env=OFFLINE_ENV, work_dir=tmp_path / "dbt", quiet=True) as project:
        statements = everything_sent(project, vars)
    assert check(statements) == []
    sent = "\n".join(sql for _, sql in statements)
    # The capture saw the materialization's every step, not just dbt's bookkeeping.
    for step in ("__tu_stg_", "rename to", "delete from", "tenant_union_runs", 'as tenant_id, "user_id"',
                 "cast(\"score\" as numeric(14,4))", "as fingerprint", "strtol(left(md5(", "where tenant_id in (",
                 "'tenant_back\\\\slash'", "'tenant_o''brien'", "count(*) as builds", "getdate()",
                 "previous.tenant_id not in"):  # fmt: skip
        assert step in sent, step


def test_each_unsupported_construct_seeded_into_the_project_fails_the_gate(tmp_path):
    rules = load_rules()
    project_dir = tmp_path / "project"
    shutil.copytree(DEFAULT_PROJECT_DIR, project_dir, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    for r in rules:
        (project_dir / "models" / f"seeded_{r.id.replace('-', '_')}.sql").write_text(r.seed + "\n")
    with DbtProject(env=OFFLINE_ENV, project_dir=project_dir, work_dir=tmp_path / "dbt", quiet=True) as project:
        violations = check(compiled_nodes(project, vars=offline_vars(3)), rules, parse=False)
    for r in rules:
        node = f"model.multitenant_analytics.seeded_{r.id.replace('-', '_')}:"
        assert any(v.startswith(f"compile {node} {r.id}:") for v in violations), (r.id, violations)
    unseeded = [v for v in violations if ".seeded_" not in v]
    assert unseeded == []


@pytest.mark.parametrize(
    ("macro", "original", "seeded", "rule"),
    [("models/clean_users.sql", "{{ dbt.current_timestamp() }} as dbt_loaded_at", "current_timestamp as dbt_loaded_at",
      "leader-node-function"),
     ("union/widen_type.sql", "{{ return('numeric(' ~ precision ~ ',' ~ scale ~ ')' if precision <= 38 else none) }}",
      "{{ return('numeric') }}", "bare-numeric")],
    ids=["current_timestamp-in-batches", "bare-numeric-widening"],
)  # fmt: skip
def test_a_construct_seeded_into_the_materialization_fails_the_gate(tmp_path, macro, original, seeded, rule):
    """What only the materialization sends (each batch statement) is checked too."""
    project_dir = tmp_path / "project"
    shutil.copytree(DEFAULT_PROJECT_DIR, project_dir, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    path = project_dir / "macros" / macro
    assert path.read_text().count(original) == 1
    path.write_text(path.read_text().replace(original, seeded))
    with DbtProject(env=OFFLINE_ENV, project_dir=project_dir, work_dir=tmp_path / "dbt", quiet=True) as project:
        violations = check(sent_statements(project, "run", *MODELS, vars=offline_vars(3, drift=True)), parse=False)
    assert any(f": {rule}:" in v and v.startswith("run --select") for v in violations), violations


def test_redshift_verification_sql_passes_the_gate():
    from tenant_harness.verify import check_files

    files = check_files(engine="redshift")
    assert any(f.parent.name == "redshift" for f in files)
    assert check([(f"verify {f.relative_to(f.parents[2])}", f.read_text()) for f in files]) == []


def test_batches_of_a_wide_table_stay_under_the_statement_size_limit(tmp_path):
    """A single statement is at most 16 MB ("Amazon Redshift SQL", c_redshift-sql). A table of
    1,600 columns (the most a table may have, "CTAS usage notes": r_CTAS_usage_notes) with long names, where
    one tenant has a column the others lack (so each of them is read with an explicit column list,
    about 80 kB a tenant), at 250 tenants a batch would be about 20 MB: the materialization splits
    such a batch by bytes, and still reads every tenant."""
    wide = [[f"column_with_a_fairly_long_descriptive_name_{i:04d}", "character varying(64)"] for i in range(1599)]
    names = [f"tenant_{i:05d}" for i in range(1, 252)]
    vars = {
        "offline_tenants": {"names": names, "columns": [["user_id", "bigint"], *wide],
                            "columns_by_tenant": {names[0]: [["user_id", "bigint"], *wide[:-1], ["score", "integer"]]}},
        "tenant_processing": {"max_tenant_limit": len(names), "batch_size": 250},
    }  # fmt: skip
    model = (
        "{{ config(materialized='tenant_union') }}\n"
        "select * from ({{ multitenant_analytics.union_zero_etl_tenant_tables('wide') }}) as u"
    )
    project_dir = tmp_path / "project"
    shutil.copytree(DEFAULT_PROJECT_DIR, project_dir, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (project_dir / "models" / "wide_union.sql").write_text(model + "\n")
    with DbtProject(env=OFFLINE_ENV, project_dir=project_dir, work_dir=tmp_path / "dbt", quiet=True) as project:
        statements = sent_statements(project, "run", "--select", "wide_union", vars=vars)
    batches = [(where, sql) for where, sql in statements if "__tu_stg_" in sql and "tenant_id" in sql]
    assert check(batches, [r for r in load_rules() if r.id == "statement-size"], parse=False) == []
    assert len(batches) >= 3  # 250 + 1 tenants: the first batch split in two (or more)
    read = [
        t for _, sql in batches for t in re.findall(r"from \"multitenant_analytics_zeroetl\"\.\"(tenant_\d+)\"", sql)
    ]
    assert len(read) == len(names) and set(read) == set(names)


def split_transactions(log: list[str]) -> list[list[str]]:
    """The recorded statements in transactions (cut at each commit or rollback), each statement on
    one line without dbt's query comment."""
    transactions: list[list[str]] = [[]]
    for sql in log:
        if sql.strip().lower() in ("commit", "rollback"):
            transactions.append([])
        else:
            transactions[-1].append(re.sub(r"^/\*.*?\*/\s*", "", " ".join(sql.split())))
    return transactions


SHARED = ("tenant_union_claims", "tenant_union_runs", "tenant_union_tenants")


def test_the_tables_runs_share_are_locked_before_anything_else_in_a_transaction(tmp_path):
    """Runs of the models of one schema write the claim table and the run log. Amazon's remedy for
    serializable isolation errors is to lock every table a transaction touches at its beginning,
    before any operation ("Troubleshooting serializable isolation errors",
    c_serial_isolation-serializable-isolation-troubleshooting; a snapshot is taken at the first
    SELECT, DML or CREATE TABLE: "Serializable isolation", c_serial_isolation). Every transaction of
    a first build, an incremental build and a full refresh that writes one of them locks it first."""
    vars = offline_vars(3, names=["tenant_o'brien", "tenant_back\\slash", "tenant_00003"])
    logs = []
    with DbtProject(env=OFFLINE_ENV, work_dir=tmp_path / "dbt", quiet=True) as project:
        for replies, args in (
            ([], ()),
            (existing_tables_replies(), ()),
            (existing_tables_replies(), ("--full-refresh",)),
        ):
            with recording_redshift([RUN_LOCK, *replies]) as log:
                project.invoke("run", "--select", "zero_etl_all_users", *args, vars=vars)
            logs.append(log)
    writes = 0
    for log in logs:
        for transaction in split_transactions(log):
            written = {t for s in transaction for t in SHARED if re.match(rf"(insert into|delete from) \S*{t}\b", s)}
            if not written:
                continue
            writes += 1
            head = [s for s in transaction if not re.match(r"(begin|set )", s, re.IGNORECASE)]
            locked = set()
            for s in head:
                if not s.lower().startswith("lock "):
                    break
                locked |= {t for t in SHARED if t in s}
            assert written <= locked, (written, transaction)
    assert writes >= 9  # per run: the claim, the swap or apply with its run log, the claim's removal


def test_an_incremental_build_commits_its_delta_with_its_run_log(tmp_path):
    """The delta (delete, insert), the run log and the tenant set commit in one transaction, and
    the staging table is dropped only after it: dbt-redshift's adapter.drop_relation commits the
    open transaction first (dbt-adapters, dbt-redshift/src/dbt/adapters/redshift/impl.py
    drop_relation and connections.py fresh_transaction), which would commit the delta alone."""
    vars = offline_vars(3, names=["tenant_o'brien", "tenant_back\\slash", "tenant_00003"])
    with (
        DbtProject(env=OFFLINE_ENV, work_dir=tmp_path / "dbt", quiet=True) as project,
        recording_redshift([RUN_LOCK, *existing_tables_replies()]) as log,
    ):
        project.invoke("run", "--select", "zero_etl_all_users", vars=vars)
    transactions = split_transactions(log)
    table = '"dev"."analytics_analytics"."zero_etl_all_users"'
    delta = [t for t in transactions if any(f"delete from {table} where tenant_id in" in s for s in t)]
    assert len(delta) == 1, delta
    sent = "\n".join(delta[0])
    assert f"insert into {table} select * from" in sent  # the changed tenants' rows
    assert 'insert into "dev"."analytics_analytics"."tenant_union_runs"' in sent
    assert 'insert into "dev"."analytics_analytics"."tenant_union_tenants"' in sent
    assert not any(s.startswith("drop table") for s in delta[0])
    later = [s for t in transactions[transactions.index(delta[0]) + 1 :] for s in t]
    assert any(s.startswith("drop table") and "zero_etl_all_users__tu_stg_" in s for s in later)


def test_a_build_without_transactions_is_refused(tmp_path):
    """dbt-redshift's profile default is autocommit on; with its behavior flag
    redshift_skip_autocommit_transaction_statements on it sends no BEGIN or COMMIT (dbt-adapters,
    dbt-redshift/src/dbt/adapters/redshift/connections.py begin/commit), so each statement would
    commit alone: the build stops naming the flag, before it sends anything of its own."""
    project_dir = tmp_path / "project"
    shutil.copytree(DEFAULT_PROJECT_DIR, project_dir, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    config = project_dir / "dbt_project.yml"
    config.write_text(config.read_text() + "\nflags:\n  redshift_skip_autocommit_transaction_statements: true\n")
    with DbtProject(env=OFFLINE_ENV, project_dir=project_dir, work_dir=tmp_path / "dbt", quiet=True) as project:
        sent = sent_statements(project, "run", "--select", "zero_etl_all_users", vars=offline_vars(3),
                               expect_failure="redshift_skip_autocommit_transaction_statements is on")  # fmt: skip
    assert not any("tenant_union_claims" in sql or "__tu_stg_" in sql for _, sql in sent)
