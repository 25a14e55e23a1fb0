"""The Redshift compatibility gate: every statement the project compiles or sends for a redshift target,
parsed with sqlfluff's redshift dialect and checked against ``tests/data/redshift_unsupported.yml``.

No cluster is reachable, so statements are captured offline in two ways:

- ``dbt compile`` of every model and test (var ``offline_tenants`` stands in for discovery);
- ``dbt run`` and ``dbt run-operation`` with dbt-redshift's driver replaced by a recorder
  (:func:`recording_redshift`): dbt-redshift opens its connections with ``redshift_connector.connect``,
  so everything dbt would send (the materialization's batches, swap or incremental apply, the run
  log, hooks, grants, dbt's own cache and schema queries) is recorded instead, in order, split into
  statements by dbt-redshift itself. A catalog query gets a canned reply only where the materialization
  needs one to take a path (an existing table for the incremental run, its fingerprints, the run log).

Capturing at the driver rather than adding a dry-run mode to the materialization leaves the
materialization one code path (the one that runs), and covers statements it does not write itself.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
RULES_FILE = REPO / "tests" / "data" / "redshift_unsupported.yml"
DOC_URL = "https://docs.aws.amazon.com/redshift/latest/dg/{}.html"


@dataclass(frozen=True)
class Rule:
    """One construct Redshift rejects, with the Developer Guide page that says so."""

    id: str
    what: str
    doc: str
    seed: str
    pattern: re.Pattern | None = None
    over_tables: bool = False
    max_identifier_bytes: int | None = None
    max_statement_bytes: int | None = None

    @property
    def url(self) -> str:
        return (
            DOC_URL.format(self.doc)
            if "/" not in self.doc
            else f"https://docs.aws.amazon.com/redshift/latest/{self.doc}.html"
        )


def load_rules(path: Path = RULES_FILE) -> list[Rule]:
    """The rules of ``path``; every entry must name its documentation page and a seed."""
    rules = []
    for entry in yaml.safe_load(path.read_text())["rules"]:
        limits = entry.get("max_bytes") or {}
        rules.append(
            Rule(
                id=entry["id"],
                what=entry["what"],
                doc=entry["doc"],
                seed=entry["seed"],
                pattern=re.compile(entry["pattern"], re.IGNORECASE) if entry.get("pattern") else None,
                over_tables=bool(entry.get("over_tables")),
                max_identifier_bytes=limits.get("identifier"),
                max_statement_bytes=limits.get("statement"),
            )  # fmt: skip
        )
    return rules


_LEXEMES = re.compile(
    r"""(?P<line>--[^\n]*)|(?P<block>/\*.*?\*/)|(?P<string>'[^'\\]*(?:(?:\\.|'')[^'\\]*)*')|(?P<quoted>"[^"]*(?:""[^"]*)*")""",
    re.DOTALL,
)
_WORD = re.compile(r"[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*")
# A statement reads or writes a table unless every relation it names is a pg_* catalog table or an
# information_schema view (those run on the leader node, where leader-node-only functions work).
_RELATION = re.compile(r"\b(from|join|into|update|table)\s+(?!\(|pg_|information_schema\b|lateral\b)\S", re.IGNORECASE)


def masked(sql: str) -> tuple[str, list[str]]:
    """``sql`` with comments and string literals blanked and quoted identifiers replaced by ``q``,
    and every identifier in it (quoted ones unquoted)."""
    identifiers: list[str] = []

    def repl(m: re.Match) -> str:
        if m.group("quoted"):
            identifiers.append(m.group("quoted")[1:-1].replace('""', '"'))
            return "q"
        return " "

    text = _LEXEMES.sub(repl, sql)
    identifiers += _WORD.findall(text)
    return text, identifiers


def rule_hits(sql: str, rules: Sequence[Rule]) -> list[Rule]:
    """The rules ``sql`` (one statement) breaks."""
    text, identifiers = masked(sql)
    hits = []
    for rule in rules:
        if rule.max_statement_bytes is not None:
            broken = len(sql.encode()) > rule.max_statement_bytes
        elif rule.max_identifier_bytes is not None:
            broken = any(len(i.encode()) > rule.max_identifier_bytes for i in identifiers)
        else:
            broken = bool(rule.pattern.search(text)) and (not rule.over_tables or bool(_RELATION.search(text)))
        if broken:
            hits.append(rule)
    return hits


@functools.cache
def _redshift_linter():
    from sqlfluff.core import FluffConfig, Linter

    return Linter(config=FluffConfig(overrides={"dialect": "redshift", "templater": "raw"}, ignore_local_config=True))


@functools.lru_cache(maxsize=4096)
def parse_error(sql: str) -> str | None:
    """Why sqlfluff's redshift dialect cannot parse ``sql``, or None (raw templater: the text as sent).
    Cached: the same statement comes back from every run (a parse takes up to seconds)."""
    parsed = _redshift_linter().parse_string(sql)
    errors = [v for v in parsed.violations if not v.ignore]
    if errors:
        return "; ".join(f"line {e.line_no}: {e.desc()}" for e in errors[:3])
    if parsed.tree is not None and any(s.is_type("unparsable") for s in parsed.tree.recursive_crawl("unparsable")):
        return "unparsable segment"
    return None


def parser_gaps(path: Path = RULES_FILE) -> list[re.Pattern]:
    """Statements of dbt-redshift itself that sqlfluff's redshift dialect cannot parse (listed with
    the reason in the rules file): the rules still apply to them, the parse check does not."""
    return [re.compile(g["pattern"], re.IGNORECASE) for g in yaml.safe_load(path.read_text()).get("parser_gaps", [])]


def check(
    statements: Sequence[tuple[str, str]], rules: Sequence[Rule] | None = None, *, parse: bool = True
) -> list[str]:
    """Violations of (where, sql) statements: one line each, ``where: rule-id: what (page)``, or
    ``where: not Redshift SQL ...`` when sqlfluff's redshift dialect cannot parse it (``parse``)."""
    rules = load_rules() if rules is None else rules
    size = next((r.max_statement_bytes for r in rules if r.max_statement_bytes), None)
    gaps = parser_gaps()
    out = []
    for where, sql in statements:
        out += [f"{where}: {r.id}: {r.what} ({r.url})" for r in rule_hits(sql, rules)]
        # A 16 MB parse would take hours; the size rule reports such a statement.
        if not parse or (size is not None and len(sql.encode()) > size) or any(g.search(sql) for g in gaps):
            continue
        error = parse_error(sql)
        if error:
            out.append(f"{where}: not Redshift SQL (sqlfluff redshift dialect): {error}")
    return out


# --- capturing what dbt-redshift sends ---------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """Rows for statements matching ``pattern`` (searched in the statement, case-insensitive);
    ``rows`` may be a function of the statements sent so far."""

    pattern: str
    columns: tuple[str, ...]
    rows: tuple[tuple, ...] | Callable[[list[str]], tuple[tuple, ...]]


class _Cursor:
    def __init__(self, log: list[str], replies: Sequence[Reply]):
        self._log, self._replies = log, replies
        self.description, self.rowcount, self._rows = None, -1, []

    def execute(self, sql, bindings=None):
        self._log.append(sql)
        reply = next((r for r in self._replies if re.search(r.pattern, sql, re.IGNORECASE | re.DOTALL)), None)
        if reply is None and re.match(r"\s*select\b", sql, re.IGNORECASE):
            reply = Reply("", ("column",), ())
        if reply is None:
            self.description, self._rows, self.rowcount = None, [], 1
        else:
            rows = reply.rows(self._log) if callable(reply.rows) else reply.rows
            self.description = [(c, 1043, None, None, None, None, None) for c in reply.columns]
            self._rows, self.rowcount = list(rows), len(rows)
        return self

    def fetchall(self):
        rows, self._rows = self._rows, []
        return rows

    def fetchmany(self, size):
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def fetchone(self):
        return self._rows.pop(0) if self._rows else None

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Connection:
    def __init__(self, log: list[str], replies: Sequence[Reply]):
        self._log, self._replies, self.autocommit = log, replies, False

    def cursor(self):
        return _Cursor(self._log, self._replies)

    def commit(self):
        self._log.append("commit")

    def rollback(self):
        self._log.append("rollback")

    def close(self):
        pass


@contextlib.contextmanager
def recording_redshift(replies: Sequence[Reply] = ()) -> Iterator[list[str]]:
    """dbt-redshift's connections record every statement into the yielded list instead of sending it."""
    import redshift_connector

    log: list[str] = []
    original = redshift_connector.connect
    redshift_connector.connect = lambda **kwargs: _Connection(log, replies)
    try:
        yield log
    finally:
        redshift_connector.connect = original


# --- the project compiled and run for an offline redshift target --------------------------------

# A redshift target whose host does not exist: nothing may reach a network.
OFFLINE_ENV = {"DBT_TARGET": "redshift", "DBT_REDSHIFT_HOST": "redshift.invalid", "DBT_REDSHIFT_USER": "nobody",
               "DBT_ENV_SECRET_REDSHIFT_PASSWORD": "", "DBT_REDSHIFT_DBNAME": "dev"}  # fmt: skip
USERS_COLUMNS = [["user_id", "bigint"], ["email", "character varying(255)"], ["first_name", "character varying(100)"],
                 ["last_name", "character varying(100)"], ["registration_date", "date"],
                 ["last_login_date", "timestamp without time zone"], ["account_status", "character varying(20)"],
                 ["subscription_tier", "character varying(20)"], ["created_at", "timestamp without time zone"],
                 ["updated_at", "timestamp without time zone"]]  # fmt: skip


def offline_vars(n: int, *, names: Sequence[str] | None = None, drift: bool = False) -> dict:
    """dbt vars that stand in for discovery: ``n`` tenants with the seed's users columns; with
    ``drift`` the first two also carry a ``score`` of different decimal types, so the union widens."""
    names = list(names or [f"tenant_{i:05d}" for i in range(1, n + 1)])
    offline: dict = {"names": names, "columns": USERS_COLUMNS}
    if drift:
        offline["columns_by_tenant"] = {
            names[0]: [*USERS_COLUMNS, ["score", "numeric(12,2)"]],
            names[1]: [*USERS_COLUMNS, ["score", "numeric(14,4)"]],
        }
    return {"offline_tenants": offline, "tenant_processing": {"max_tenant_limit": len(names), "batch_size": 2}}


def _own_claim(log: list[str]) -> tuple[tuple, ...]:
    """The run lock's claim row, as the claim this run just inserted would read back."""
    claims = [m for sql in log for m in re.findall(r"select '[^']*', '([^']+)', pg_backend_pid\(\)", sql)]
    return ((claims[-1], 1, "2024-05-01 10:00:00", "nobody", True),)


# Replies every recorded run needs: the run lock reads back the claim it made (default__tenant_union_lock).
RUN_LOCK = Reply(
    r"select run_id, pid, claimed_at, claimed_by, .* from .*tenant_union_claims",
    ("run_id", "pid", "claimed_at", "claimed_by", "mine"),
    _own_claim,
)


def existing_tables_replies(database: str = "dev") -> list[Reply]:
    """Catalog replies saying the models and the run log exist (so a run takes the incremental path),
    with per-tenant fingerprints and past builds to read."""
    listing = ("database", "name", "schema", "type")
    return [
        Reply(r"information_schema\.tables.*table_schema ilike 'analytics'\s", listing,
              ((database, "all_users", "analytics", "table"), (database, "tenant_union_runs", "analytics", "table"))),
        Reply(r"information_schema\.tables.*table_schema ilike 'analytics_analytics'\s", listing,
              ((database, "zero_etl_all_users", "analytics_analytics", "table"),
               (database, "tenant_union_runs", "analytics_analytics", "table"))),
        # The columns of the tables and their staging tables (dbt-redshift's get_columns_in_relation,
        # its information_schema form): the change check hashes each but the volatile dbt_loaded_at.
        Reply(r"from information_schema\.\"columns\"\s+where table_name = '[^']*all_users[^']*'",
              ("column_name", "data_type", "character_maximum_length", "numeric_precision", "numeric_scale"),
              (("tenant_id", "character varying", 256, None, None), ("user_id", "integer", None, 32, 0),
               ("email", "character varying", 255, None, None), ("first_name", "character varying", 100, None, None),
               ("last_name", "character varying", 100, None, None), ("registration_date", "date", None, None, None),
               ("last_login_date", "timestamp without time zone", None, None, None),
               ("account_status", "character varying", 20, None, None),
               ("subscription_tier", "character varying", 20, None, None),
               ("created_at", "timestamp without time zone", None, None, None),
               ("updated_at", "timestamp without time zone", None, None, None),
               ("dbt_loaded_at", "timestamp without time zone", None, None, None))),
        # The table's per-tenant fingerprints; the change checks get no rows, so these tenants differ.
        Reply(r"as fingerprint\s+from \"\w+\"\.\"analytics", ("tenant_id", "fingerprint"),
              (("tenant_o'brien", "2/2024-05-01 10:00:00/123"), ("tenant_back\\slash", "1/2024-05-02 11:00:00/-45"))),
        Reply(r"as per_tenant_only", ("builds", "tt", "tr", "rr", "ts", "rs", "per_tenant_only"),
              ((2, 10.0, 30.0, 100.0, 4.0, 12.0, 0.4),)),
    ]  # fmt: skip


def compiled_nodes(project, *args: str, vars: dict) -> list[tuple[str, str]]:
    """(node, compiled SQL) of every model and test ``dbt compile`` produces offline."""
    result = project.invoke("compile", "--no-populate-cache", *args, vars=vars)
    return [(f"compile {n.unique_id}", n.compiled_code) for n in result.nodes if n.compiled_code]


def sent_statements(
    project, *args: str, vars: dict, replies: Sequence[Reply] = (), expect_failure: str | None = None
) -> list[tuple[str, str]]:
    """(where, statement) of everything ``dbt <args>`` sends to the recorded redshift connection; with
    ``expect_failure``, the command must fail with that text in its message."""
    with recording_redshift([RUN_LOCK, *replies]) as log:
        result = project.invoke(*args, vars=vars, check=expect_failure is None)
    if expect_failure is not None:
        assert not result.success and expect_failure in result.describe_failure(), result.describe_failure()
    label = " ".join(a for a in args if not a.startswith("{"))
    return [(f"{label} #{i}", sql) for i, sql in enumerate(log, 1) if sql not in ("commit", "rollback")]


def tenant_drop_replies() -> list[Reply]:
    """Replies saying the last build had 10 tenants and tenant_gone has rows but is no longer found:
    the tenant-count guard stops the run after its two queries."""
    return [
        Reply(r"select tenant_union_runs\.tenants\s", ("tenants",), ((10,),)),
        Reply(r"previous\.tenant_id not in", ("tenant_id",), (("tenant_gone",),)),
        *existing_tables_replies(),
    ]
