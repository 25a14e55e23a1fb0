"""Tenant generator: N schemas with the seed's ``users`` table, deterministic per seed, with ground truth.

Each tenant gets ``rows`` valid users; some are *messy* (mixed case, stray spaces in email, status and
tier) and must come out cleaned; a few extra *invalid* rows (null email, or null user_id in tenants made
without a primary key) must be dropped. The truth is computed here, in Python, from the generated rows,
independently of any SQL the model runs.
"""

from __future__ import annotations

import functools
import io
import os
import random
import string
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import psycopg
from psycopg import sql

from .errors import ConfigError

USERS_COLUMNS = (
    "user_id", "email", "first_name", "last_name", "registration_date", "last_login_date",
    "account_status", "subscription_tier", "created_at", "updated_at",
)  # fmt: skip
DEMO_TENANTS = ("tenant_a", "tenant_b", "tenant_c")
TRUTH_SCHEMA = "harness_truth"  # must not match the tenant pattern
STATUSES = ("active", "inactive", "suspended")
TIERS = ("free", "basic", "premium", "enterprise")
FIRST_NAMES = ("Aiko", "Ben", "Chloe", "Daichi", "Emma", "Felix", "Hana", "Ivan", "Julia", "Kenji")
LAST_NAMES = ("Sato", "Smith", "Tanaka", "Garcia", "Suzuki", "Müller", "Kim", "Rossi", "Ito", "Novak")
_EPOCH = datetime(2024, 1, 1)
_NULL = "\\N"

_USERS_DDL = """
create table {table} (
    user_id bigint{pk},
    email varchar(255),
    first_name varchar(100),
    last_name varchar(100),
    registration_date date,
    last_login_date timestamp,
    account_status varchar(20),
    subscription_tier varchar(20),
    created_at timestamp,
    updated_at timestamp
)"""


@dataclass(frozen=True)
class TenantTruth:
    """What the generator put in one tenant and what the model must keep of it."""

    name: str
    source_rows: int
    kept_rows: int
    messy_rows: int
    has_primary_key: bool = True

    @property
    def dropped_rows(self) -> int:
        return self.source_rows - self.kept_rows


@dataclass(frozen=True)
class DatasetTruth:
    """The truth for a whole generated tenant set."""

    seed: int
    tenants: tuple[TenantTruth, ...]
    seconds: float = field(default=0.0, compare=False)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tenants]

    @property
    def kept_by_tenant(self) -> dict[str, int]:
        return {t.name: t.kept_rows for t in self.tenants}

    @property
    def source_rows(self) -> int:
        return sum(t.source_rows for t in self.tenants)

    @property
    def kept_rows(self) -> int:
        return sum(t.kept_rows for t in self.tenants)


def tenant_names(n: int, *, prefix: str = "tenant_") -> list[str]:
    """The seed's ``tenant_a..`` names up to 26 tenants, zero-padded numbers beyond."""
    if n < 0:
        raise ConfigError(f"tenant count must be >= 0, got {n}. Hint: pass --tenants 3.")
    if n <= 26:
        return [prefix + c for c in string.ascii_lowercase[:n]]
    width = max(4, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


def _rng(seed: int, tenant: str) -> random.Random:
    return random.Random(f"{seed}:{tenant}")  # str seeds hash stably across processes


def _copy_text(value: str) -> str:
    """Escape a value for COPY's text format."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class SourceRow(NamedTuple):
    """One generated row, compactly: the other columns follow from (uid, messy), see :func:`row_values`."""

    uid: int
    user_id: int | None
    email: str | None
    messy: bool


def tenant_rows(
    tenant: str,
    *,
    rows: int,
    seed: int,
    messy_ratio: float = 0.2,
    invalid_ratio: float = 0.05,
    null_ids: bool = False,
) -> list[SourceRow]:
    """The rows of one tenant's ``users`` table, deterministic for (tenant, seed).

    ``rows`` valid users (user_id 1..rows); each is messy with probability ``messy_ratio``. Extra invalid
    rows follow, each valid user adding one with probability ``invalid_ratio``: null email, or (when
    ``null_ids``, for a tenant without a primary key) null user_id.
    """
    rng = _rng(seed, tenant)
    n_invalid = sum(rng.random() < invalid_ratio for _ in range(rows))
    # ASCII only: lower() on non-ASCII letters depends on the database's locale (C folds ASCII only),
    # and the truth must not.
    domain = "".join(c for c in tenant.lower() if c.isascii() and c.isalnum()) or "tenant"
    out = []
    for uid in range(1, rows + n_invalid + 1):
        messy = rng.random() < messy_ratio
        email = f"  User{uid}@{domain.upper()}.Example.COM " if messy else f"user{uid}@{domain}.example.com"
        user_id: int | None = uid
        if uid > rows:  # invalid extras
            if null_ids and uid % 2:
                user_id = None
            else:
                email = None
        out.append(SourceRow(uid, user_id, email, messy))
    return out


@functools.lru_cache(maxsize=100_000)
def row_values(uid: int, messy: bool) -> tuple:
    """first_name .. updated_at of a generated row: a pure function of its uid and messiness."""
    first, last = FIRST_NAMES[uid % 10], LAST_NAMES[(uid * 7) % 10]
    status, tier = STATUSES[uid % 3], TIERS[(uid // 3) % 4]
    if messy:
        first, last, status, tier = f" {first}", f"{last}  ", f" {status.capitalize()} ", f"{tier.upper()} "
    created = _EPOCH + timedelta(hours=uid)
    return (
        first, last, created.date() + timedelta(days=uid % 30), created + timedelta(days=40),
        status, tier, created, created + timedelta(days=uid % 60),
    )  # fmt: skip


@functools.lru_cache(maxsize=100_000)
def _row_values_text(uid: int, messy: bool) -> str:
    return "\t".join(_copy_text(str(v)) for v in row_values(uid, messy))


def source_values(row: SourceRow) -> tuple:
    """All ten ``users`` columns of a generated row, None for NULL."""
    return (row.user_id, row.email, *row_values(row.uid, row.messy))


def clean_row(tenant: str, row: SourceRow) -> tuple | None:
    """What ``all_users`` must hold for a source row: the model's cleaning, written in Python.

    Returns None for a row the model must drop. Columns: tenant_id, then the users columns.
    """
    if row.user_id is None or row.email is None:
        return None
    first, last, reg, login, status, tier, created, updated = row_values(row.uid, row.messy)
    return (
        tenant, row.user_id, row.email.strip().lower(), first.strip(), last.strip(), reg, login,
        status.strip().upper(), tier.strip().lower(), created, updated,
    )  # fmt: skip


def _copy_line(row: SourceRow) -> str:
    user_id = _NULL if row.user_id is None else str(row.user_id)
    email = _NULL if row.email is None else _copy_text(row.email)
    return f"{user_id}\t{email}\t{_row_values_text(row.uid, row.messy)}\n"


@dataclass(frozen=True)
class TenantSpec:
    """How to generate one tenant."""

    name: str
    rows: int
    null_ids: bool = False


def plan_tenants(
    n: int | Sequence[str],
    *,
    rows: int,
    seed: int,
    jitter: float = 0.0,
    null_id_every: int = 0,
) -> list[TenantSpec]:
    """Tenant names and sizes: ``jitter`` varies each tenant's row count by up to that fraction;
    every ``null_id_every``-th tenant is made without a primary key and with null user_ids."""
    if rows < 0:
        raise ConfigError(f"rows per tenant must be >= 0, got {rows}. Hint: pass --rows 2.")
    if not 0 <= jitter <= 1:
        raise ConfigError(f"jitter must be between 0 and 1, got {jitter}.")
    names = tenant_names(n) if isinstance(n, int) else list(n)
    specs = []
    for i, name in enumerate(names, start=1):
        count = rows
        if jitter:
            spread = int(rows * jitter)
            count = max(0, rows + _rng(seed, name).randint(-spread, spread))
        specs.append(TenantSpec(name, count, null_ids=bool(null_id_every) and i % null_id_every == 0))
    return specs


def generate_tenants(
    conninfo: str,
    n: int | Sequence[str] = DEMO_TENANTS,
    rows_per_tenant: int = 2,
    seed: int = 42,
    *,
    jitter: float = 0.0,
    null_id_every: int = 0,
    messy_ratio: float = 0.2,
    invalid_ratio: float = 0.05,
    commit_every: int = 200,
    workers: int = max(2, os.cpu_count() or 2),
    replace: bool = False,
    progress: bool = False,
    bulk: str = "copy",
) -> DatasetTruth:
    """Create the tenant schemas in the database at ``conninfo`` and return the truth.

    ``n`` is a tenant count or a list of schema names (default: the seed's tenant_a, b, c). Tables are
    bulk-loaded with COPY over ``workers`` connections at once; each commits every ``commit_every``
    tenants because one transaction that creates thousands of tables runs out of lock slots. The
    truth is also written to ``harness_truth.tenant_rows`` so verification SQL can compare against
    it. ``replace`` drops existing schemas of the same names first; without it an existing schema is
    an error.
    ``bulk="insert"`` loads with multi-row INSERTs instead, for servers without COPY FROM STDIN
    (Amazon Redshift).
    """
    if bulk not in _LOADERS:
        raise ConfigError(f"bulk must be one of {', '.join(_LOADERS)}, got {bulk!r}.")
    if commit_every < 1:
        raise ConfigError(f"commit_every must be >= 1, got {commit_every}.")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}.")
    started = time.perf_counter()
    specs = plan_tenants(n, rows=rows_per_tenant, seed=seed, jitter=jitter, null_id_every=null_id_every)
    ratios = dict(messy_ratio=messy_ratio, invalid_ratio=invalid_ratio)
    with psycopg.connect(conninfo) as conn:
        _check_free(conn, [s.name for s in specs], replace=replace)
        _create_truth_table(conn)
        if replace:
            conn.execute(
                sql.SQL("delete from {} where tenant_id in ({})").format(_TRUTH_TABLE, _literals(s.name for s in specs))
            )
    chunks = list(_chunks(specs, min(commit_every, max(1, len(specs) // workers))))
    with _progress(progress, len(specs)) as advance:
        if workers == 1 or len(chunks) == 1:
            results = [_load_chunk(conninfo, c, seed=seed, replace=replace, bulk=bulk, **ratios) for c in chunks]
            advance(len(specs))
        else:
            # The server parses COPY on one core per connection: several connections use them all.
            with ThreadPoolExecutor(workers) as pool:
                futures = [
                    pool.submit(_load_chunk, conninfo, c, seed=seed, replace=replace, bulk=bulk, **ratios)
                    for c in chunks
                ]
                for future in as_completed(futures):
                    advance(len(future.result()))
                results = [f.result() for f in futures]
    truths = tuple(t for chunk in results for t in chunk)
    return DatasetTruth(seed=seed, tenants=truths, seconds=time.perf_counter() - started)


def _load_chunk(
    conninfo: str, chunk: list[TenantSpec], *, seed: int, replace: bool, bulk: str, **ratios
) -> list[TenantTruth]:
    """Create and fill one chunk of tenants in one transaction."""
    truths = []
    load = _LOADERS[bulk]
    with psycopg.connect(conninfo) as conn:
        _create_tables(conn, chunk, replace=replace)
        for spec in chunk:
            data = tenant_rows(spec.name, rows=spec.rows, seed=seed, null_ids=spec.null_ids, **ratios)
            load(conn, sql.Identifier(spec.name, "users"), USERS_COLUMNS, data)
            truths.append(_truth(spec, data))
        load(conn, _TRUTH_TABLE, _TRUTH_COLUMNS, [(t.name, t.source_rows, t.kept_rows) for t in truths])
    return truths


def _truth(spec: TenantSpec, data: list[SourceRow]) -> TenantTruth:
    kept = [r for r in data if r.user_id is not None and r.email is not None]
    messy = sum(1 for r in kept if r.messy)
    return TenantTruth(spec.name, len(data), len(kept), messy, has_primary_key=not spec.null_ids)


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_free(conn: psycopg.Connection, names: list[str], *, replace: bool) -> None:
    if replace:
        return
    taken = (
        conn.execute(
            sql.SQL("select nspname from pg_namespace where nspname in ({}) order by 1").format(_literals(names))
        ).fetchall()
        if names
        else []
    )
    if taken:
        shown = ", ".join(r[0] for r in taken[:5]) + (" ..." if len(taken) > 5 else "")
        raise ConfigError(
            f"{len(taken)} tenant schema(s) already exist: {shown}. "
            "Hint: use a fresh database, or replace=True (--replace) to drop and recreate them."
        )


def _create_tables(conn: psycopg.Connection, chunk: list[TenantSpec], *, replace: bool) -> None:
    # One round trip for the whole chunk's DDL: per-statement round trips would dominate.
    statements = []
    for spec in chunk:
        schema = sql.Identifier(spec.name)
        if replace:
            statements.append(sql.SQL("drop schema if exists {} cascade").format(schema))
        statements.append(sql.SQL("create schema {}").format(schema))
        pk = sql.SQL("" if spec.null_ids else " primary key")
        statements.append(sql.SQL(_USERS_DDL).format(table=sql.Identifier(spec.name, "users"), pk=pk))
    conn.execute(sql.SQL(";\n").join(statements).as_string(conn))


def _copy(conn: psycopg.Connection, table: sql.Composable, columns: Sequence[str], rows: list) -> None:
    """COPY rows (SourceRows of a users table, or plain tuples) into ``table``."""
    if not rows:
        return
    query = sql.SQL("copy {} ({}) from stdin").format(table, sql.SQL(", ").join(map(sql.Identifier, columns)))
    with conn.cursor().copy(query) as copy:
        if isinstance(rows[0], SourceRow):
            buf = io.StringIO()
            buf.writelines(map(_copy_line, rows))
            copy.write(buf.getvalue())
        else:
            for row in rows:
                copy.write_row(row)


def _insert(conn: psycopg.Connection, table: sql.Composable, columns: Sequence[str], rows: list) -> None:
    """Multi-row INSERTs of 500 rows (SourceRows or plain tuples), for servers without COPY FROM STDIN."""
    rows = [source_values(r) if isinstance(r, SourceRow) else r for r in rows]
    head = sql.SQL("insert into {} ({}) values ").format(table, sql.SQL(", ").join(map(sql.Identifier, columns)))
    for start in range(0, len(rows), 500):
        values = sql.SQL(", ").join(sql.SQL("({})").format(_literals(row)) for row in rows[start : start + 500])
        conn.execute(head + values)


_LOADERS = {"copy": _copy, "insert": _insert}
_TRUTH_TABLE = sql.Identifier(TRUTH_SCHEMA, "tenant_rows")
_TRUTH_COLUMNS = ("tenant_id", "source_rows", "expected_rows")


def _literals(values: Iterable) -> sql.Composed:
    return sql.SQL(", ").join(map(sql.Literal, values))


def _create_truth_table(conn: psycopg.Connection) -> None:
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(TRUTH_SCHEMA)))
    conn.execute(
        sql.SQL(
            "create table if not exists {} ("
            " tenant_id varchar(256) primary key, source_rows integer not null, expected_rows integer not null)"
        ).format(_TRUTH_TABLE)
    )


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


def expected_all_users(truth_seed: int, specs: Sequence[TenantSpec], **ratios) -> list[tuple]:
    """Every row ``all_users`` must hold, computed in Python; sorted by (tenant_id, user_id)."""
    rows = []
    for spec in specs:
        data = tenant_rows(spec.name, rows=spec.rows, seed=truth_seed, null_ids=spec.null_ids, **ratios)
        rows.extend(r for r in (clean_row(spec.name, d) for d in data) if r is not None)
    return sorted(rows, key=lambda r: (r[0], r[1]))


__all__ = [
    "DEMO_TENANTS", "USERS_COLUMNS", "TRUTH_SCHEMA", "DatasetTruth", "TenantSpec", "TenantTruth",
    "SourceRow", "clean_row", "expected_all_users", "generate_tenants", "plan_tenants",
    "row_values", "source_values", "tenant_names", "tenant_rows",
]  # fmt: skip
