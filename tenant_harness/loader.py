"""The loader: writes the dataset :mod:`tenant_harness.dataset` describes into PostgreSQL (COPY) or a
server without COPY FROM STDIN (multi-row INSERTs, Amazon Redshift), and the truth beside it.

Tenants are loaded in chunks over several connections at once (the server parses COPY on one core per
connection), each chunk one transaction (one that creates thousands of tables runs out of lock slots).
A chunk's DDL goes in one round trip, and so do the rows of its small tables (up to ``inline_rows``,
as multi-row INSERTs beside the DDL): a COPY costs three round trips per table, which at 50,000
two-row tenants took most of the load's time. Larger tables are loaded by COPY.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import psycopg
from psycopg import sql

from .dataset import (
    DEMO_TENANTS,
    TRUTH_SCHEMA,
    Column,
    DatasetTruth,
    Layout,
    SourceRow,
    TableSpec,
    TableTruth,
    TenantSpec,
    TenantTruth,
    plan_tenants,
    row_values,
    table_rows,
    table_specs,
    tenant_domain,
    tenant_truth,
    value,
)
from .errors import ConfigError

_NULL = "\\N"
INLINE_ROWS = 100  # tables of at most this many rows are written in the chunk's DDL round trip
_MEMO_LIMIT = 200_000  # memoised row tails per table layout: tenants of up to 100,000 rows, bounded memory
TRUTH_TABLE = sql.Identifier(TRUTH_SCHEMA, "tenant_rows")
TRUTH_COLUMNS = ("table_name", "tenant_id", "source_rows", "expected_rows")
SHAPES = "table_shapes"  # harness_truth.table_shapes: each table's table_shape, as JSON
SHAPES_TABLE = sql.Identifier(TRUTH_SCHEMA, SHAPES)


def generate_tenants(
    conninfo: str,
    n: int | Sequence[str] = DEMO_TENANTS,
    rows_per_tenant: int = 2,
    seed: int = 42,
    *,
    tables: Sequence[TableSpec | dict | str] | None = None,
    jitter: float = 0.0,
    null_id_every: int = 0,
    messy_ratio: float | None = None,
    invalid_ratio: float | None = None,
    commit_every: int = 200,
    workers: int = max(2, os.cpu_count() or 2),
    replace: bool = False,
    progress: bool = False,
    bulk: str = "copy",
    inline_rows: int = INLINE_ROWS,
) -> DatasetTruth:
    """Create the tenant schemas in the database at ``conninfo``, fill them, and return the truth.

    ``n`` is a tenant count or a list of schema names (default: the seed's tenant_a, b, c); ``tables``
    the table specs each tenant gets (default: ``users``; see :func:`tenant_harness.dataset.table_spec`).
    ``messy_ratio`` / ``invalid_ratio`` override every spec's. The truth is also written to
    ``harness_truth.tenant_rows`` (table_name, tenant_id, source_rows, expected_rows) so verification
    SQL can compare against it, and each table's key, required columns and cleaning rules to
    ``harness_truth.table_shapes`` (table_name, shape: :func:`table_shape` as JSON), which verify's
    row comparison reads. ``replace`` drops existing schemas of the same names first; without it
    an existing schema is an error. ``bulk="insert"`` loads with multi-row INSERTs instead of COPY
    (servers without COPY FROM STDIN). With COPY, a table of at most ``inline_rows`` rows is written
    as INSERTs in the same round trip as its chunk's DDL (0: every table by COPY).
    """
    if bulk not in _LOADERS:
        raise ConfigError(f"bulk must be one of {', '.join(_LOADERS)}, got {bulk!r}.")
    if commit_every < 1:
        raise ConfigError(f"commit_every must be >= 1, got {commit_every}.")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}.")
    if inline_rows < 0:
        raise ConfigError(f"inline_rows must be >= 0, got {inline_rows}.")
    started = time.perf_counter()
    specs = _with_ratios(table_specs(tables), messy_ratio, invalid_ratio)
    tenants = plan_tenants(n, rows=rows_per_tenant, seed=seed, jitter=jitter, null_id_every=null_id_every)
    with psycopg.connect(conninfo) as conn:
        _check_free(conn, [t.name for t in tenants], replace=replace)
        _create_truth_table(conn)
        _write_shapes(conn, specs)
        if replace and tenants:
            conn.execute(
                sql.SQL("delete from {} where tenant_id in ({})").format(
                    TRUTH_TABLE, _literals(t.name for t in tenants)
                )
            )
    chunks = list(_chunks(tenants, min(commit_every, max(1, len(tenants) // workers))))
    load = dict(specs=specs, seed=seed, replace=replace, bulk=bulk, inline_rows=inline_rows if bulk == "copy" else 0)
    results: list[list[tuple[TenantTruth, ...]]] = [[] for _ in chunks]
    with _progress(progress, len(tenants)) as advance:
        _run_workers(conninfo, chunks, results, min(workers, len(chunks)), advance, load)
    per_tenant = [t for chunk in results for t in chunk]  # [(table truths of one tenant), ...]
    tables = tuple(TableTruth(s.name, tuple(t[i] for t in per_tenant)) for i, s in enumerate(specs))
    return DatasetTruth(seed=seed, tables=tables, seconds=time.perf_counter() - started)


def _with_ratios(specs: Sequence[TableSpec], messy: float | None, invalid: float | None) -> list[TableSpec]:
    from dataclasses import replace

    over = {k: v for k, v in (("messy_ratio", messy), ("invalid_ratio", invalid)) if v is not None}
    return [replace(s, **over) if over else s for s in specs]


def _run_workers(conninfo: str, chunks: list, results: list, workers: int, advance, load: dict) -> None:
    """Load ``chunks`` over ``workers`` connections, each chunk one transaction, into ``results``.
    A connection serves many chunks: a new backend per chunk (its start and its cold catalog caches)
    cost seconds at 50,000 tenants. The first error stops every worker after its current chunk."""
    lock, failed = threading.Lock(), threading.Event()
    todo = iter(range(len(chunks)))

    def work() -> None:
        with psycopg.connect(conninfo) as conn:
            while not failed.is_set():
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                try:
                    results[i] = _load_chunk(conn, chunks[i], **load)
                    conn.commit()
                except BaseException:
                    failed.set()
                    raise
                advance(len(chunks[i]))

    if workers <= 1:
        work()
        return
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(work) for _ in range(workers)]
    for future in futures:
        future.result()  # the first worker's error, if any


def _load_chunk(
    conn: psycopg.Connection,
    chunk: list[TenantSpec],
    *,
    specs: Sequence[TableSpec],
    seed: int,
    replace: bool,
    bulk: str,
    inline_rows: int,
) -> list[tuple[TenantTruth, ...]]:
    """Create and fill one chunk of tenants in the connection's open transaction (the caller commits);
    the truth per tenant and table."""
    out = []
    truth_rows = []
    load = _LOADERS[bulk]
    planned = [[table_rows(spec, t, seed) for spec in specs] for t in chunk]
    with _naming_misfits([s.name for s in specs], [t.name for t in chunk]):
        _create_tables(conn, chunk, specs, planned, replace=replace, inline_rows=inline_rows)
    for tenant, tables in zip(chunk, planned, strict=True):
        truths = []
        domain = tenant_domain(tenant.name)
        for spec, (layout, data) in zip(specs, tables, strict=True):
            if layout is not None and len(data) > inline_rows:
                with _naming_misfits([spec.name], [tenant.name]):
                    load(conn, sql.Identifier(tenant.name, spec.name), layout, data, domain)
            truth = tenant_truth(spec, layout, tenant, data)
            truths.append(truth)
            if layout is not None:
                truth_rows.append((spec.name, tenant.name, truth.source_rows, truth.kept_rows))
        out.append(tuple(truths))
    _write_rows(conn, bulk, TRUTH_TABLE, TRUTH_COLUMNS, truth_rows)
    return out


@contextlib.contextmanager
def _naming_misfits(tables: list[str], tenants: list[str]) -> Iterator[None]:
    """A generated value the table's column type refuses (too long, out of range) is a table spec
    whose types do not fit its values: a ConfigError naming the table, the tenants and the fix."""
    try:
        yield
    except psycopg.errors.DataError as exc:
        where = (exc.diag.context or "").strip().splitlines()
        names = ", ".join(tenants[:5]) + (" ..." if len(tenants) > 5 else "")
        raise ConfigError(
            f"generated rows do not fit the column types of table {', '.join(tables)} of tenant(s) {names}: "
            f"{str(exc).splitlines()[0]}{f' ({where[0]})' if where else ''}. Hint: widen the column's type in "
            "[[harness.tables]]: messy values of a column with a `clean` rule carry extra spaces and another "
            "case, and `choices` and generated values must fit as well."
        ) from exc


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_free(conn: psycopg.Connection, names: list[str], *, replace: bool) -> None:
    if replace or not names:
        return
    taken = conn.execute(
        sql.SQL("select nspname from pg_namespace where nspname in ({}) order by 1").format(_literals(names))
    ).fetchall()
    if taken:
        shown = ", ".join(r[0] for r in taken[:5]) + (" ..." if len(taken) > 5 else "")
        raise ConfigError(
            f"{len(taken)} tenant schema(s) already exist: {shown}. "
            "Hint: use a fresh database, or replace=True (--replace) to drop and recreate them."
        )


def table_ddl(table: sql.Composable, layout: Layout, *, primary_key: bool) -> sql.Composed:
    """``create table`` for one tenant's layout of a spec; the key as primary key when asked and the
    tenant has every key column."""
    cols = [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.type)) for c in layout.columns]
    key = layout.spec.key
    if primary_key and all(k in layout.names for k in key):
        cols.append(sql.SQL("primary key ({})").format(sql.SQL(", ").join(map(sql.Identifier, key))))
    return sql.SQL("create table {} ({})").format(table, sql.SQL(", ").join(cols))


def _ddl_template(conn: psycopg.Connection, layout: Layout, primary_key: bool) -> str:
    """:func:`table_ddl` as text with ``{}`` for the table, rendered once per layout: rendering every
    column identifier again for each of thousands of tenants costs more than the DDL itself."""
    key = ("ddl", primary_key)
    if key not in layout.cache:
        marker = sql.Identifier("__th_table__")
        text = table_ddl(marker, layout, primary_key=primary_key).as_string(conn)
        layout.cache[key] = text.replace("{", "{{").replace("}", "}}").replace(marker.as_string(conn), "{}", 1)
    return layout.cache[key]


def _create_tables(conn, chunk, specs, planned, *, replace: bool, inline_rows: int) -> None:
    """The chunk's DDL, and the rows of its tables of at most ``inline_rows`` rows, in one round trip:
    per-statement round trips would dominate."""
    statements = []
    for tenant, tables in zip(chunk, planned, strict=True):
        schema = sql.Identifier(tenant.name).as_string(conn)
        if replace:
            statements.append(f"drop schema if exists {schema} cascade")
        statements.append(f"create schema {schema}")
        domain = None
        for spec, (layout, data) in zip(specs, tables, strict=True):
            if layout is not None:
                table = sql.Identifier(tenant.name, spec.name).as_string(conn)
                statements.append(_ddl_template(conn, layout, not tenant.null_ids).format(table))
                if data and len(data) <= inline_rows:
                    domain = domain or tenant_domain(tenant.name)
                    statements.append(_insert_head(conn, layout).format(table) + _values_block(layout, data, domain))
    conn.execute(";\n".join(statements))


def _copy_text(value) -> str:
    """A value in COPY's text format."""
    if value is None:
        return _NULL
    if value is True or value is False:
        return "t" if value else "f"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_block(layout: Layout, data: list[SourceRow], domain: str) -> str:
    """The COPY text of ``data``, columns in the order of :func:`copy_columns`."""
    return "".join(_rows(layout, data, domain, _COPY_TEXT))


def _template(column: Column, messy: bool, domain: str, render=_copy_text) -> str:
    """A per-row column's text as ``render`` writes it (COPY text, or an SQL literal) with ``{0}``
    for the row number (a key, or an email's number)."""
    marker = 987654321  # a number no other part of the value can contain
    if column.kind == "key":
        return render(marker).replace(str(marker), "{0}")
    text = render(value(column, marker, messy, domain)).replace("{", "{{").replace("}", "}}")
    return text.replace(str(marker), "{0}")


def _sql_text(value) -> str:
    """A value as an SQL literal of unknown type, which INSERT casts to the column's type through the
    type's input function, as COPY does: so both loaders write the same values."""
    if value is None:
        return "NULL"
    if value is True or value is False:
        return "'t'" if value else "'f'"
    text = str(value).replace("'", "''")
    if "\\" in text:
        return "E'" + text.replace("\\", "\\\\") + "'"  # whatever standard_conforming_strings says
    return "'" + text + "'"


def _insert_head(conn: psycopg.Connection, layout: Layout) -> str:
    """``insert into {} (<columns in copy_columns order>) values``, rendered once per layout."""
    key = ("insert_head",)
    if key not in layout.cache:
        columns = sql.SQL(", ").join(map(sql.Identifier, copy_columns(layout))).as_string(conn)
        layout.cache[key] = "insert into {} (" + columns.replace("{", "{{").replace("}", "}}") + ") values "
    return layout.cache[key]


def _values_block(layout: Layout, data: list[SourceRow], domain: str) -> str:
    """The VALUES rows of ``data``, columns in the order of :func:`copy_columns`."""
    return ", ".join(_rows(layout, data, domain, _SQL_VALUES))


class _RowFormat(NamedTuple):
    """How :func:`_rows` writes a row: each value by ``render``, joined by ``sep``, between
    ``start`` and ``end``; ``memo`` keys its memoised tails apart from other formats'."""

    render: Callable[[object], str]
    sep: str
    start: str
    end: str
    memo: str


def _rows(layout: Layout, data: list[SourceRow], domain: str, fmt: _RowFormat) -> list[str]:
    """The rows of ``data`` as text (COPY lines or VALUES tuples), columns in the order of
    :func:`copy_columns`: the per-row columns (key, emails) from one format string per tenant, then
    the columns that depend on (row number, messiness) only, memoised per layout across tenants.
    Loading speed lives here."""
    heads = {
        messy: fmt.sep.join(_template(c, messy, domain, fmt.render) for c in layout.dynamic) for messy in (False, True)
    }
    sep = fmt.sep if layout.dynamic else ""
    static, cache = layout.static, layout.cache
    lines = []
    append = lines.append
    for row in data:
        n, messy = row.n, row.messy
        if row.null is not None:
            by_name = dict(zip(layout.names, row_values(layout, row, domain), strict=True))
            values = fmt.sep.join(fmt.render(by_name[c.name]) for c in (*layout.dynamic, *static))
            append(fmt.start + values + fmt.end)
            continue
        tail = cache.get((fmt.memo, n, messy))
        if tail is None:
            tail = sep + fmt.sep.join(fmt.render(value(c, n, messy, domain)) for c in static) + fmt.end
            if len(cache) < _MEMO_LIMIT:
                cache[(fmt.memo, n, messy)] = tail
        append(fmt.start + heads[messy].format(n) + tail)
    return lines


def copy_columns(layout: Layout) -> tuple[str, ...]:
    """The column order the COPY loader writes."""
    return tuple(c.name for c in (*layout.dynamic, *layout.static))


def _copy(conn: psycopg.Connection, table: sql.Composable, layout: Layout, data: list[SourceRow], domain: str) -> None:
    if not data:
        return
    query = sql.SQL("copy {} ({}) from stdin").format(
        table, sql.SQL(", ").join(map(sql.Identifier, copy_columns(layout)))
    )
    block = _copy_block(layout, data, domain)
    with conn.cursor().copy(query) as copy:
        copy.write(block)


def _insert(
    conn: psycopg.Connection, table: sql.Composable, layout: Layout, data: list[SourceRow], domain: str
) -> None:
    _insert_rows(conn, table, layout.names, [row_values(layout, r, domain) for r in data])


def _insert_rows(conn: psycopg.Connection, table: sql.Composable, columns: Sequence[str], rows: list[tuple]) -> None:
    """Multi-row INSERTs of 500 rows, for servers without COPY FROM STDIN."""
    head = sql.SQL("insert into {} ({}) values ").format(table, sql.SQL(", ").join(map(sql.Identifier, columns)))
    for start in range(0, len(rows), 500):
        values = sql.SQL(", ").join(sql.SQL("({})").format(_literals(row)) for row in rows[start : start + 500])
        conn.execute(head + values)


def _write_rows(conn, bulk: str, table: sql.Composable, columns: Sequence[str], rows: list[tuple]) -> None:
    """Plain tuples into ``table``: COPY, or INSERTs for ``bulk="insert"``."""
    if not rows:
        return
    if bulk == "insert":
        _insert_rows(conn, table, columns, rows)
        return
    query = sql.SQL("copy {} ({}) from stdin").format(table, sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.cursor().copy(query) as copy:
        for row in rows:
            copy.write_row(row)


_LOADERS = {"copy": _copy, "insert": _insert}
_COPY_TEXT = _RowFormat(_copy_text, "\t", "", "\n", "copy")
_SQL_VALUES = _RowFormat(_sql_text, ", ", "(", ")", "sql")


def _literals(values: Iterable) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Literal, values))


def _create_truth_table(conn: psycopg.Connection) -> None:
    """The truth's tables: counts per tenant and table, and each table's shape."""
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(TRUTH_SCHEMA)))
    conn.execute(
        sql.SQL(
            "create table if not exists {} (table_name varchar(256) not null, tenant_id varchar(256) not null,"
            " source_rows integer not null, expected_rows integer not null, primary key (table_name, tenant_id))"
        ).format(TRUTH_TABLE)
    )
    conn.execute(
        sql.SQL("create table if not exists {} (table_name varchar(256) primary key, shape varchar(65535) not null)")
        .format(SHAPES_TABLE)
    )  # fmt: skip


def table_shape(spec: TableSpec) -> dict:
    """What a union model must do with ``spec``'s rows, as verify compares them with the sources:
    the key and required columns (a row with one null is dropped) and each column's cleaning rule
    (``trim``, ``lower``, ``upper`` or None), drift's extra columns too."""
    columns = {c.name: c.clean for c in spec.columns}
    for drift in spec.drift:
        columns.update({c.name: c.clean for c in drift.extra if c.name not in columns})
    return {"key": list(spec.key), "required": list(spec.required), "clean": columns}


def _write_shapes(conn: psycopg.Connection, specs: Sequence[TableSpec]) -> None:
    """The tables' shapes (a later generate of the same table replaces its shape)."""
    names = [s.name for s in specs]
    conn.execute(sql.SQL("delete from {} where table_name in ({})").format(SHAPES_TABLE, _literals(names)))
    rows = [(s.name, json.dumps(table_shape(s))) for s in specs]
    _write_rows(conn, "insert", SHAPES_TABLE, ("table_name", "shape"), rows)


class _progress:
    """A rich progress bar over tenants, or nothing when ``enabled`` is false."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total, self.bar = enabled, total, None

    def __enter__(self):
        if not self.enabled:
            return lambda k: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.bar = Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), transient=False,
        )  # fmt: skip
        self.bar.__enter__()
        task = self.bar.add_task("generating tenants", total=self.total)
        return lambda k: self.bar.advance(task, k)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


__all__ = [
    "SHAPES", "SHAPES_TABLE", "TRUTH_COLUMNS", "TRUTH_TABLE", "copy_columns", "generate_tenants", "table_ddl",
    "table_shape",
]  # fmt: skip
