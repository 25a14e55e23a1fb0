"""The SQL lint gate: sqlfluff, with the repository's own .sqlfluff, over every SQL file we write.

- the verification queries (plain SQL);
- the dbt models and tests as written, rendered by the dbt templater (dbt/.sqlfluff) against a live
  embedded database: the discovery macros query the catalog while compiling, and rendering the
  real macros beats keeping stand-in definitions in step with them;
- the SQL dbt compiles from them, macro output included, as PostgreSQL will run it.

A failure lists every violation as ``file:line:position rule message``.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from dbt.adapters.factory import reset_adapters
from sqlfluff.core import FluffConfig, Linter
from sqlfluff.core.config import load_config_file

pytestmark = pytest.mark.local

REPO = Path(__file__).resolve().parents[2]
DBT_DIR = REPO / "dbt"
VERIFICATION_SQL = sorted((REPO / "sql" / "verification").glob("*.sql"))
# Generic tests ({% test %} blocks in tests/generic/) are macros, not nodes: the dbt templater
# skips them. What they generate is linted with the compiled SQL below.
DBT_SOURCES = [
    path
    for path in sorted([*DBT_DIR.glob("models/**/*.sql"), *DBT_DIR.glob("tests/**/*.sql")])
    if "generic" not in path.relative_to(DBT_DIR).parts
]

# Rules that judge how SQL is laid out for a reader, not what it says, are off for compiled SQL:
# it is generated text (the union macro writes one select per tenant on one line, dbt's built-in
# tests come with blank lines and trailing spaces) that nobody edits; the layout of what we write
# is linted in the sources. RF06 (needless quotes) too: dbt quotes every relation name, and the
# union macro quotes every identifier on purpose, since tenant schema names may need it
# (tenant_x"y). Everything else stays on: lower-case keywords and functions, explicit aliases,
# qualified and unambiguous references, ...
COMPILED_EXCLUDED_RULES = ("layout", "RF06")


def repo_config(*, dbt: bool = False, exclude: tuple[str, ...] = (), dbt_vars: dict | None = None) -> FluffConfig:
    """The repository's .sqlfluff (plus dbt/.sqlfluff for ``dbt``, with ``dbt_vars`` as dbt vars),
    and nothing from the user's home or the working directory, so the gate is the same everywhere."""
    configs = load_config_file(str(REPO), ".sqlfluff")
    if dbt:
        configs = load_config_file(str(DBT_DIR), ".sqlfluff", configs=configs)
        configs.setdefault("templater", {}).setdefault("dbt", {})["context"] = dict(dbt_vars or {})
    if exclude:
        core = configs["core"]
        excluded = [r.strip() for r in str(core.get("exclude_rules") or "").split(",")]
        core["exclude_rules"] = ",".join([*filter(None, excluded), *exclude])
    return FluffConfig(configs=configs, ignore_local_config=True)


def lint(linter: Linter, sql: str, name: str) -> list[str]:
    """The violations in ``sql`` (called ``name``: a real path for the dbt templater)."""
    linted = linter.lint_string(sql, fname=name)
    if linted.tree is None and not linted.violations:
        # The templater skipped the file (not a node, disabled, ...): that is no pass.
        return [f"{display(name)}: not linted (skipped by the templater)"]
    return [
        f"{display(name)}:{v.line_no}:{v.line_pos} {v.rule_code()} {v.desc()}"
        for v in sorted(linted.get_violations(), key=lambda v: (v.line_no, v.line_pos))
    ]


def display(name: str) -> str:
    path = Path(name)
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else name


def report(violations: list[str]) -> str:
    return f"{len(violations)} sqlfluff violation(s):\n" + "\n".join(violations)


def test_verification_sql_lints_clean():
    assert VERIFICATION_SQL, "no sql/verification/*.sql found"
    linter = Linter(config=repo_config())
    violations = [v for p in VERIFICATION_SQL for v in lint(linter, p.read_text(), str(p))]
    assert not violations, report(violations)


@pytest.mark.tenants(n=3, rows=2)
def test_dbt_sources_lint_clean(tenant_database, monkeypatch, tmp_path):
    assert DBT_SOURCES, "no dbt models or tests found"
    # profiles.yml reads the connection from these; target/ and logs/ go to tmp_path, not dbt/.
    env = {
        **tenant_database.dbt_env(),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The Zero-ETL model is disabled off Redshift; enable it, reading the test database itself.
    zero_etl = {"enable_zero_etl_model": True, "zeroetl_database": tenant_database.name}
    linter = Linter(config=repo_config(dbt=True, dbt_vars=zero_etl))
    # dbt keeps one adapter per database type for the whole process, bound to the database of the
    # dbt command that registered it (an earlier test's, long dropped); the templater would reuse
    # it. Drop it before, and after, so that no connection of ours outlives the test.
    reset_adapters()
    try:
        violations = [v for p in DBT_SOURCES for v in lint(linter, p.read_text(), str(p))]
    finally:
        reset_adapters()
    assert not violations, report(violations)


def compiled_nodes(dbt_project, *args: str, **kw) -> list:
    """The models and tests of ``dbt compile <args>``, each with its compiled SQL."""
    result = dbt_project.invoke("compile", *args, **kw)
    nodes = [n for n in result.nodes if n.unique_id.startswith(("model.", "test."))]
    assert all(n.compiled_code for n in nodes), [n.unique_id for n in nodes if not n.compiled_code]
    return nodes


@pytest.mark.tenants(n=3, rows=2)
def test_compiled_dbt_sql_lints_clean(tenant_database, dbt_project):
    linter = Linter(config=repo_config(exclude=COMPILED_EXCLUDED_RULES))
    nodes = compiled_nodes(dbt_project)
    assert {n.unique_id.split(".")[0] for n in nodes} == {"model", "test"}, nodes
    # Then the union macro's other shapes: two batches, a missing column (a typed null), a widened
    # type. dbt compiles the tests on all_users with it.
    with psycopg.connect(tenant_database.conninfo) as conn:
        conn.execute("alter table tenant_b.users drop column last_name")
        conn.execute("alter table tenant_c.users alter column user_id type integer")
    batches = {"tenant_processing": {"batch_size": 2}}
    drift = compiled_nodes(dbt_project, "--select", "all_users", vars=batches)
    union = next(n.compiled_code for n in drift if n.name == "all_users")
    assert "tenant_batch_2" in union and "cast(null as" in union, union

    violations = [
        violation
        for label, batch in (("compiled", nodes), ("compiled: 2 batches, drift", drift))
        for n in batch
        for violation in lint(linter, n.compiled_code, f"{n.unique_id} ({label})")
    ]
    assert not violations, report(violations)


BAD_SQL = "SELECT u.id, count(*) AS n\nfrom users u\ngroup by u.id\n"


@pytest.mark.parametrize("compiled", [False, True], ids=["source-rules", "compiled-rules"])
def test_gate_reports_violations(compiled):
    """The gate is not vacuous: an upper-case keyword and an implicit table alias are reported, in
    the format a failing test shows, under the source and the compiled-SQL rule sets alike."""
    config = repo_config(exclude=COMPILED_EXCLUDED_RULES if compiled else ())
    violations = lint(Linter(config=config), BAD_SQL, "bad.sql")
    assert any(v.startswith("bad.sql:1:1 CP01 ") for v in violations), violations
    assert any(v.startswith("bad.sql:2:") and " AL01 " in v for v in violations), violations
