"""Verification: built-in checks for any tenant_union model, and SQL files (zero rows = pass).

For each model (:class:`ModelSpec`: model, source table, key, tenant column) the built-in checks are:
row counts per tenant against the generator's truth, for the tenants the project's configured selection
picks (patterns or registry, include/exclude filters); every selected tenant present; each tenant's
rows equal to its own schema's rows, cleaned as the generator's table spec says (so a row read from
another tenant's schema is caught even where the counts agree); no unselected schema present; no
duplicate (tenant, key); no null tenant or key. A missing model relation is an error.

Then every ``sql/verification/*.sql`` file (and every file of a project's own checks folder) runs: a
query that returns zero rows on pass. A file's leading comment describes the check; a ``-- requires:
relation[, relation]`` line names relations it needs (absent: skipped); a ``-- model: name`` line says
it checks that model only (it runs when that model is verified). Where an engine needs different SQL,
``sql/verification/<engine>/<name>.sql`` replaces ``<name>.sql``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from . import assets
from .database import relation_exists
from .dataset import TRUTH_SCHEMA
from .errors import ConfigError, HarnessError
from .loader import SHAPES, SHAPES_TABLE
from .selection import Selection

DEFAULT_SQL_DIR = assets.SQL_DIR
_REQUIRES = "requires:"
_COMPARE_CHUNK = 500  # tenants per comparison statement: one over thousands of tables runs out of lock slots
_MODEL = "model:"


class VerificationError(HarnessError):
    """Verification could not run: a missing relation, no check at all."""


@dataclass(frozen=True)
class ModelSpec:
    """A tenant_union model to verify: its name, the per-tenant table it unions, its key within a
    tenant, and the column holding the tenant's schema name."""

    model: str = "all_users"
    source_table: str = "users"
    key: tuple[str, ...] = ("user_id",)
    tenant_column: str = "tenant_id"


_MODEL_KEYS = ("model", "source_table", "key", "tenant_column")


def model_specs(raw: Sequence[Mapping[str, Any] | ModelSpec]) -> tuple[ModelSpec, ...]:
    """``[[harness.models]]`` entries (``model``, and optionally ``source_table``, ``key`` (a name or
    a list), ``tenant_column``; defaults as ModelSpec's) as ModelSpecs."""
    specs = []
    for entry in raw:
        if isinstance(entry, ModelSpec):
            specs.append(entry)
            continue
        if not isinstance(entry, Mapping) or not entry.get("model"):
            hint = "Hint: {model = 'all_orders', source_table = 'orders', key = ['order_id']}."
            raise ConfigError(f"a model to verify needs at least a model name, got {entry!r}. {hint}")
        unknown = sorted(set(entry) - set(_MODEL_KEYS))
        if unknown:
            raise ConfigError(f"model {entry['model']!r} to verify: unknown key(s) {', '.join(unknown)}. "
                               f"Hint: known keys are {', '.join(_MODEL_KEYS)}.")  # fmt: skip
        key = entry.get("key", ModelSpec.key)
        specs.append(ModelSpec(
            str(entry["model"]), str(entry.get("source_table", ModelSpec.source_table)),
            (key,) if isinstance(key, str) else tuple(key), str(entry.get("tenant_column", ModelSpec.tenant_column)),
        ))  # fmt: skip
    return tuple(specs)


@dataclass(frozen=True)
class CheckResult:
    """One verification query's outcome; ``rows`` holds up to ``sample`` offending rows."""

    name: str
    description: str
    status: str  # "pass", "fail" or "skip"
    failing_rows: int
    rows: tuple[tuple, ...]
    columns: tuple[str, ...]
    seconds: float
    model: str = ""  # the model a built-in check verified

    @property
    def passed(self) -> bool:
        return self.status != "fail"


def _header(text: str) -> tuple[str, list[str], str | None]:
    """(description, required relations, model) from a file's leading comment."""
    lines, requires, model = [], [], None
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        body = line.lstrip("- ").strip()
        if body.startswith(_REQUIRES):
            requires += [r.strip() for r in body[len(_REQUIRES) :].split(",") if r.strip()]
        elif body.startswith(_MODEL):
            model = (body[len(_MODEL) :].split() or [None])[0]
        else:
            lines.append(body)
    return " ".join(lines), requires, model


def check_files(sql_dir: str | Path = DEFAULT_SQL_DIR, engine: str = "postgres") -> list[Path]:
    """The verification files for ``engine``: its own version of a check where it has one."""
    base = Path(sql_dir)
    return [base / engine / p.name if (base / engine / p.name).exists() else p for p in sorted(base.glob("*.sql"))]


def run_checks(
    conninfo: str,
    *,
    schema: str = "analytics",
    sql_dir: str | Path | None = DEFAULT_SQL_DIR,
    checks_dir: str | Path | None = None,
    engine: str = "postgres",
    sample: int = 5,
    models: Sequence[ModelSpec] = (ModelSpec(),),
    dbt_vars: Mapping[str, Any] | None = None,
) -> list[CheckResult]:
    """Run the built-in checks of each of ``models`` (built in ``schema``; the tenant selection from
    ``dbt_vars``, the project's effective vars), then the SQL files of ``sql_dir`` and ``checks_dir``
    with ``schema`` first on the search_path. Raises VerificationError for a missing model relation,
    a check file that fails to run, and when no check ran at all."""
    if checks_dir and not Path(checks_dir).is_dir():
        raise VerificationError(
            f"checks folder {checks_dir} does not exist. Hint: --checks-dir (or checks_dir in tenant-harness.toml, "
            "relative to that file) names a folder of .sql checks."
        )
    selection = Selection.from_vars(dbt_vars or {})
    results: list[CheckResult] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("set search_path to {}, public").format(sql.Identifier(schema)))
        for spec in models:
            results += _model_checks(conn, spec, schema=schema, selection=selection, engine=engine, sample=sample)
        verified = {m.model for m in models}
        files = check_files(sql_dir, engine) if sql_dir else []
        files += sorted(Path(checks_dir).glob("*.sql")) if checks_dir else []
        for path in files:
            text = path.read_text().strip().rstrip(";")
            description, requires, model = _header(text)
            if model is not None and model not in verified:
                continue  # a check of another model
            if not all(relation_exists(conn, r, schema=schema) for r in requires):
                results.append(CheckResult(path.stem, description, "skip", 0, (), (), 0.0))
                continue
            results.append(_run_query(conn, path.stem, description, text, sample, where=str(path)))
    if not any(r.status != "skip" for r in results):
        raise VerificationError(
            f"no verification check ran in schema {schema!r} (files: {sql_dir}, {checks_dir}). "
            "Hint: name the model to verify (--model) and where dbt built it (--schema)."
        )
    return results


def _run_query(
    conn, name: str, description: str, text: str, sample: int, *, where: str, model: str = ""
) -> CheckResult:
    started = time.perf_counter()
    try:
        cur = conn.execute(f"select count(*) over () as failing_rows, q.* from ({text}) as q limit {sample}")
    except psycopg.errors.UndefinedTable as exc:
        raise VerificationError(
            f"check {name} ({where}): {str(exc).splitlines()[0]}. Hint: run `tenant-harness run` first, check "
            "--schema, or add a `-- requires: <relation>` line to the check so it is skipped without it."
        ) from exc
    except psycopg.Error as exc:
        raise VerificationError(f"check {name} ({where}) failed to run: {str(exc).splitlines()[0]}") from exc
    rows = cur.fetchall()
    columns = tuple(d.name for d in cur.description[1:])
    failing = rows[0][0] if rows else 0
    status = "fail" if failing else "pass"
    return CheckResult(name, description, status, failing, tuple(r[1:] for r in rows), columns,
                       time.perf_counter() - started, model)  # fmt: skip


def _model_checks(conn, spec: ModelSpec, *, schema: str, selection: Selection, engine: str, sample: int):
    """The built-in checks of one model."""
    model_schema, _, name = spec.model.rpartition(".")
    model_schema = model_schema or schema
    if not relation_exists(conn, name, schema=model_schema):
        raise VerificationError(
            f"model {model_schema}.{name} does not exist. Hint: run `tenant-harness run` first, or name the "
            "model to verify (--model, and --schema for where dbt built it)."
        )
    table = sql.Identifier(model_schema, name)
    tenant = sql.Identifier(spec.tenant_column)
    keys = sql.SQL(", ").join(map(sql.Identifier, spec.key))
    schemas = _schemas_with_table(conn, spec.source_table, engine)
    registry_names = _registry_names(conn, selection.registry) if selection.registry is not None else None
    selected = selection.select(schemas, registry_names=registry_names, project_schemas={schema, model_schema})
    selected_sql = _name_set(selected, engine)
    # No truth for this table (a real database, or tables the generator did not write): skip.
    truth_names = _truth_tenants(conn, spec.source_table)
    has_truth = bool(truth_names)
    truth = sql.SQL("select tenant_id, expected_rows from {} where table_name = {} and tenant_id in ({})").format(
        sql.Identifier(TRUTH_SCHEMA, "tenant_rows"), sql.Literal(spec.source_table), selected_sql
    )
    checks = [
        (
            "counts_match_truth",
            f"Selected tenants whose row count in {name} differs from the generator's truth for {spec.source_table}."
            + _untruthed_note(truth_names, selected, spec.source_table),
            sql.SQL(
                "select truth.tenant_id as tenant, truth.expected_rows,"
                " coalesce(output.actual_rows, 0) as actual_rows from ({truth}) as truth"
                " left join (select {tenant} as tenant, count(*) as actual_rows from {table}"
                " where {tenant} in ({selected}) group by 1) as output on truth.tenant_id = output.tenant"
                " where truth.expected_rows <> coalesce(output.actual_rows, 0)"
            ).format(truth=truth, tenant=tenant, table=table, selected=selected_sql)
            if has_truth
            else None,
        ),
        (
            "tenants_all_present",
            f"Selected tenants with valid rows in their {spec.source_table} (by the truth) missing from {name}.",
            sql.SQL(
                "select truth.tenant_id from ({truth}) as truth where truth.expected_rows > 0"
                " and not exists (select 1 from {table} as m where m.{tenant} = truth.tenant_id)"
            ).format(truth=truth, table=table, tenant=tenant)
            if has_truth
            else None,
        ),
        (
            "rows_match_sources",
            f"Selected tenants whose rows in {name} differ from the rows of their own schema's {spec.source_table}"
            " (cleaned as the generator's table spec says): a row missing or extra, or, where the counts agree,"
            " rows of other content (another tenant's rows, a wrong value).",
            lambda description: _rows_match_sources(
                conn,
                spec,
                description,
                model_schema=model_schema,
                name=name,
                tenants=sorted(set(selected) & truth_names),
                engine=engine,
                sample=sample,
            ),  # fmt: skip
        ),
        (
            "no_unselected_tenants",
            f"Rows of {name} from schemas the configured selection does not pick (noise, excluded tenants).",
            sql.SQL(
                "select {tenant} as tenant, count(*) as rows from {table}"
                " where {tenant} is not null and {tenant} not in ({selected}) group by 1"
            ).format(tenant=tenant, table=table, selected=selected_sql),
        ),
        (
            "unique_key",
            f"({spec.tenant_column}, {', '.join(spec.key)}) values that occur more than once in {name}.",
            sql.SQL(
                "select {tenant}, {keys}, count(*) as occurrences from {table} group by {tenant}, {keys}"
                " having count(*) > 1"
            ).format(tenant=tenant, keys=keys, table=table),
        ),
        (
            "keys_not_null",
            f"Rows of {name} with a null {spec.tenant_column} or key.",
            sql.SQL("select {tenant}, {keys} from {table} where {nulls}").format(
                tenant=tenant,
                keys=keys,
                table=table,
                nulls=sql.SQL(" or ").join(
                    sql.SQL("{} is null").format(sql.Identifier(c)) for c in (spec.tenant_column, *spec.key)
                ),
            ),  # fmt: skip
        ),
    ]
    out = []
    for check, description, query in checks:
        if callable(query):  # a check that runs its own queries
            out.append(query(description))
            continue
        if query is None:  # no truth here (e.g. a real database): nothing to compare counts with
            skipped = description + f" Needs harness_truth for {spec.source_table}."
            out.append(CheckResult(check, skipped, "skip", 0, (), (), 0.0, spec.model))
            continue
        text = query.as_string(conn)
        out.append(_run_query(conn, check, description, text, sample, where=f"model {spec.model}", model=spec.model))
    return out


def _rows_match_sources(
    conn,
    spec: ModelSpec,
    description: str,
    *,
    model_schema: str,
    name: str,
    tenants: list[str],
    engine: str,
    sample: int,
) -> CheckResult:
    """Per tenant, the model's rows against its own schema's source rows, kept and cleaned as the
    table's shape (written by the generator) says, on the columns the model and the table share by
    name: as multisets, so a missing, doubled or foreign row shows. Counts alone cannot see a tenant
    given another tenant's rows of the same number; this can. Chunks of tenants, one statement each."""
    started = time.perf_counter()
    shape = _table_shape(conn, spec.source_table) if engine == "postgres" else None
    if shape is None or not tenants:
        why = "Runs on PostgreSQL only." if engine != "postgres" else f"Needs harness_truth for {spec.source_table}."
        return CheckResult("rows_match_sources", f"{description} {why}", "skip", 0, (), (), 0.0, spec.model)
    types = _column_types(conn, model_schema, name)
    compared = [c for c in shape["clean"] if c in types and c != spec.tenant_column]
    sides = _Sides(spec, shape, compared, types, _source_columns(conn, spec.source_table, tenants),
                   sql.Identifier(model_schema, name))  # fmt: skip
    failing: list[tuple] = []
    for i in range(0, len(tenants), _COMPARE_CHUNK):
        failing += conn.execute(sides.differing(tenants[i : i + _COMPARE_CHUNK])).fetchall()
    shown = sorted(failing)[:sample]
    same_count = [row[0] for row in shown if row[1] == row[2]]
    # Where the counts agree, which columns differ (a missing row changes every column's sum).
    by_tenant = dict(conn.execute(sides.differing_columns(same_count)).fetchall()) if same_count else {}
    shown = [(*row, ", ".join(by_tenant.get(row[0], [])) or "rows missing or extra") for row in shown]
    return CheckResult(
        "rows_match_sources", f"{description} Compared columns: {', '.join(compared) or 'none: counts only'}.",
        "fail" if failing else "pass", len(failing), tuple(shown),
        ("tenant", "rows_in_source", "rows_in_model", "columns_that_differ"), time.perf_counter() - started,
        spec.model,
    )  # fmt: skip


@dataclass(frozen=True)
class _Sides:
    """Per-tenant fingerprints of the rows a model must hold (read from each tenant's own schema,
    kept and cleaned as the table's shape says) and of the rows it holds: the row count and the sum
    of a 64-bit hash of each row's text (a multiset fingerprint: one pass, no sort; two different
    multisets agree with a chance of about 2^-64)."""

    spec: ModelSpec
    shape: dict
    compared: list[str]
    types: dict[str, str]
    columns: dict[str, set[str]]  # per tenant schema holding the table: its column names
    model: sql.Composable

    def differing(self, tenants: list[str]) -> sql.Composed:
        """(tenant, rows_in_source, rows_in_model) of the tenants whose fingerprints differ."""
        return sql.SQL(
            "select coalesce(s.tenant, m.tenant), coalesce(s.n, 0), coalesce(m.n, 0) from ({}) as s full join ({})"
            " as m on s.tenant = m.tenant where coalesce(s.n, 0) <> coalesce(m.n, 0) or coalesce(s.h0, 0) <>"
            " coalesce(m.h0, 0)"
        ).format(*self._fingerprints(tenants, per_column=False))

    def differing_columns(self, tenants: list[str]) -> sql.Composed:
        """(tenant, [columns whose per-column fingerprints differ]) of ``tenants``."""
        names = sql.SQL(", ").join(
            sql.SQL("case when coalesce(s.h{i}, 0) <> coalesce(m.h{i}, 0) then {name} end").format(
                i=sql.SQL(str(i)), name=sql.Literal(c)
            )
            for i, c in enumerate(self.compared)
        )
        listed = (
            sql.SQL("array_remove(array[{}], null)").format(names)
            if self.compared
            else sql.SQL("cast(array[] as text[])")
        )
        return sql.SQL(
            "select coalesce(s.tenant, m.tenant), {} from ({}) as s full join ({}) as m on s.tenant = m.tenant"
        ).format(listed, *self._fingerprints(tenants, per_column=True))

    def _fingerprints(self, tenants: list[str], *, per_column: bool) -> tuple[sql.Composable, sql.Composable]:
        """The source side (a union of one aggregate per tenant) and the model's side (grouped by
        tenant), each (tenant, n, h0, ...): h0 the hash sum of whole rows, or h<i> that of column i."""
        width = len(self.compared) if per_column else 1
        # The first branch fixes the columns' names and types.
        hashes = sql.SQL("").join(
            sql.SQL(", cast(null as numeric) as h{}").format(sql.SQL(str(i))) for i in range(width)
        )
        branches = [sql.SQL("select cast(null as text) as tenant, cast(0 as bigint) as n{} where false").format(hashes)]
        kept_by = [*self.shape["key"], *self.shape["required"]]  # never empty: a table spec has a key
        for tenant in tenants:
            present = self.columns.get(tenant)
            if present is None:
                continue  # no such table: the model must hold no row of it, which the model's side shows
            if all(c in present for c in kept_by):
                kept = sql.SQL(" and ").join(sql.SQL("{} is not null").format(sql.Identifier(c)) for c in kept_by)
            else:
                kept = sql.SQL("false")  # a tenant lacking its key or a required column keeps no row
            values = [_source_value(c, self.shape["clean"][c], self.types[c], c in present) for c in self.compared]
            branches.append(
                sql.SQL("select {}, count(*){} from {} where {}").format(
                    sql.Literal(tenant),
                    _hash_sums(values, per_column),
                    sql.Identifier(tenant, self.spec.source_table),
                    kept,
                )  # fmt: skip
            )
        values = [sql.SQL("cast({} as text)").format(sql.Identifier(c)) for c in self.compared]
        tenant = sql.Identifier(self.spec.tenant_column)
        in_model = sql.SQL("select cast({t} as text) as tenant, count(*) as n{h} from {m} where {t} in ({names})"
                           " group by 1").format(
            t=tenant, h=_hash_sums(values, per_column), m=self.model, names=_name_set(tenants, "postgres"),
        )  # fmt: skip
        return sql.SQL(" union all ").join(branches), in_model


def _hash_sums(values: list[sql.Composable], per_column: bool) -> sql.Composable:
    """``, sum(hash of a record's text) as h<i>``: one of the whole row, or one per value. A record's
    text tells a NULL from an empty string (nothing vs \"\")."""
    records = (
        [sql.SQL("row({})").format(v) for v in values]
        if per_column
        else [sql.SQL("row({})").format(sql.SQL(", ").join(values))]
    )
    return sql.SQL("").join(
        sql.SQL(", sum(hashtextextended(cast({} as text), 0)) as h{}").format(r, sql.SQL(str(i)))
        for i, r in enumerate(records)
    )


def _source_value(column: str, clean: str | None, model_type: str, present: bool) -> sql.Composable:
    """A source column as the model must hold it, as text: cleaned by its rule, then in the model's type."""
    if not present:
        return sql.SQL("cast(null as text)")
    value = sql.Identifier(column)
    if clean is not None:
        value = sql.SQL("trim(cast({} as text))").format(value)
        value = sql.SQL("{}({})").format(sql.SQL(clean), value) if clean in ("lower", "upper") else value
    return sql.SQL("cast(cast({} as {}) as text)").format(value, sql.SQL(model_type))


def _table_shape(conn, table: str) -> dict | None:
    """The generator's shape of ``table`` (loader.table_shape), or None where it wrote none."""
    if not relation_exists(conn, SHAPES, schema=TRUTH_SCHEMA):
        return None
    row = conn.execute(sql.SQL("select shape from {} where table_name = %s").format(SHAPES_TABLE), (table,)).fetchone()
    return json.loads(row[0]) if row else None


def _column_types(conn, schema: str, name: str) -> dict[str, str]:
    """The relation's columns and their full types (with length and precision)."""
    rows = conn.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_catalog.pg_attribute as a"
        " join pg_catalog.pg_class as c on c.oid = a.attrelid join pg_catalog.pg_namespace as n"
        " on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped",
        (schema, name),
    ).fetchall()
    return dict(rows)


def _source_columns(conn, table: str, tenants: list[str]) -> dict[str, set[str]]:
    """Per tenant schema holding ``table``: its column names."""
    rows = conn.execute(
        "select n.nspname, a.attname from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n"
        " on n.oid = c.relnamespace join pg_catalog.pg_attribute as a on a.attrelid = c.oid"
        " where c.relname = %s and n.nspname = any(%s) and a.attnum > 0 and not a.attisdropped",
        (table, tenants),
    ).fetchall()
    out: dict[str, set[str]] = {}
    for schema, column in rows:
        out.setdefault(schema, set()).add(column)
    return out


def _truth_tenants(conn, table: str) -> set[str]:
    """The tenants the generator wrote ``table`` for (and so has a count for); none without a truth."""
    if not relation_exists(conn, "tenant_rows", schema=TRUTH_SCHEMA):
        return set()
    rows = conn.execute(
        sql.SQL("select tenant_id from {} where table_name = %s").format(sql.Identifier(TRUTH_SCHEMA, "tenant_rows")),
        (table,),
    ).fetchall()
    return {row[0] for row in rows}


def _untruthed_note(truth_names: set[str], selected: list[str], table: str) -> str:
    """Selected tenants the generator did not make (a project's own schemas) have no count to
    compare with: say which, rather than report them as wrong."""
    others = sorted(set(selected) - truth_names)
    if not others:
        return ""
    shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    return f" Not compared ({len(others)} selected tenants have no truth for {table}: {shown})."


def _name_set(names: list[str], engine: str) -> sql.Composable:
    """``names`` for ``x in (...)``: a subquery over an array on PostgreSQL (planned as a hash, where a
    literal list of 10,000 names is compared one by one per row), a literal list elsewhere."""
    if engine == "postgres":
        return sql.SQL("select unnest(cast({} as text[]))").format(sql.Literal(list(names)))
    return sql.SQL(", ").join(map(sql.Literal, names)) if names else sql.SQL("null")


def _schemas_with_table(conn, table: str, engine: str) -> dict[str, bool]:
    """Every schema of the database, and whether it holds ``table``."""
    if engine == "postgres":
        query = (
            "select n.nspname, exists (select 1 from pg_catalog.pg_class as c where c.relnamespace = n.oid"
            " and c.relname = %s and c.relkind in ('r', 'p', 'v', 'm', 'f')) from pg_catalog.pg_namespace as n"
        )
    else:
        query = (
            "select s.schema_name, exists (select 1 from information_schema.tables as t"
            " where t.table_schema = s.schema_name and t.table_name = %s) from information_schema.schemata as s"
        )
    return dict(conn.execute(query, (table,)).fetchall())


def _registry_names(conn, registry: Mapping[str, Any]) -> list[str]:
    """The names var tenant_registry's table lists."""
    relation = sql.Identifier(*str(registry["relation"]).split("."))
    column = sql.Identifier(registry["column"])
    where = sql.SQL(" and ({})").format(sql.SQL(registry["where"])) if registry.get("where") else sql.SQL("")
    query = sql.SQL("select distinct cast({c} as text) from {r} as registry where {c} is not null{w}").format(
        c=column, r=relation, w=where
    )
    return [r[0] for r in conn.execute(query).fetchall()]
