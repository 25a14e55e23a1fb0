"""The generated dataset, in pure Python: table specs, tenant plans, rows and the ground truth.

No database here (the loader, :mod:`tenant_harness.loader`, writes what this module describes). A
:class:`TableSpec` says what one per-tenant table looks like: its columns and types, its key, its
incremental column, its dirty-row rules (which columns invalid rows null out, which columns messy
rows dirty and how the model cleans them) and per-tenant drift (a missing column, another type, an
extra column, no table at all). ``users`` (the seed guide's table) is :data:`USERS` , the default.

Every value is a pure function of (tenant, row number, messiness), so the truth, what a model that
cleans as the spec says must keep, is computed here from the same rows the loader writes,
independently of any SQL.
"""

from __future__ import annotations

import fnmatch
import random
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from .errors import ConfigError

DEMO_TENANTS = ("tenant_a", "tenant_b", "tenant_c")
TRUTH_SCHEMA = "harness_truth"  # never a tenant: discovery leaves it out whatever the pattern
STATUSES = ("active", "inactive", "suspended")
TIERS = ("free", "basic", "premium", "enterprise")
FIRST_NAMES = ("Aiko", "Ben", "Chloe", "Daichi", "Emma", "Felix", "Hana", "Ivan", "Julia", "Kenji")
LAST_NAMES = ("Sato", "Smith", "Tanaka", "Garcia", "Suzuki", "Müller", "Kim", "Rossi", "Ito", "Novak")
EPOCH = datetime(2024, 1, 1)
CLEAN_RULES = ("trim", "lower", "upper")  # the model's cleaning of a column: trim, lower(trim), upper(trim)
_KINDS = ("key", "email", "choice", "integer", "number", "text", "date", "timestamp", "boolean")
_INTEGER_TYPES = ("smallint", "integer", "int", "int2", "int4", "int8", "bigint")
_NUMBER_TYPES = ("numeric", "decimal", "real", "double precision", "float", "float4", "float8")
_TEXT_TYPES = ("text", "varchar", "character varying", "char", "character", "bpchar")


@dataclass(frozen=True)
class Column:
    """One column of a generated table.

    ``kind`` says how values are made (default: from ``type``; ``choices`` implies ``choice``):
    ``key`` the row number, ``email`` ``<name stem><n>@<tenant>.example.com``, ``choice`` one of
    ``choices`` (index ``(n * step // div) % len``), ``integer``/``number``/``text``/``date``/
    ``timestamp``/``boolean`` values derived from the row number (dates and timestamps: EPOCH plus n
    hours, plus ``offset_days``, plus ``n % spread_days`` days). ``clean`` is how the model cleans
    the column (``trim``, ``lower`` = lower(trim()), ``upper`` = upper(trim())): messy rows get stray
    spaces and the wrong case in it, and the truth holds the cleaned value.
    """

    name: str
    type: str = "text"
    kind: str | None = None
    clean: str | None = None
    choices: tuple[str, ...] = ()
    step: int = 1
    div: int = 1
    offset_days: int = 0
    spread_days: int = 0

    def __post_init__(self):
        if not self.name:
            raise ConfigError("a table column needs a name. Hint: {name = 'order_id', type = 'bigint'}.")
        if self.kind is None:
            object.__setattr__(self, "kind", "choice" if self.choices else _kind_of(self.type, self.name))
        if self.kind not in _KINDS:
            raise ConfigError(f"column {self.name}: kind must be one of {', '.join(_KINDS)}, got {self.kind!r}.")
        if self.kind == "choice" and not self.choices:
            raise ConfigError(f"column {self.name}: kind 'choice' needs choices. Hint: choices = ['a', 'b'].")
        if self.clean is not None and self.clean not in CLEAN_RULES:
            raise ConfigError(f"column {self.name}: clean must be one of {', '.join(CLEAN_RULES)}, got {self.clean!r}.")
        if self.clean and self.kind not in ("email", "choice", "text"):
            raise ConfigError(f"column {self.name}: only text columns can be cleaned, this one is {self.kind}.")
        if self.div < 1 or self.spread_days < 0:
            raise ConfigError(f"column {self.name}: div must be >= 1 and spread_days >= 0.")


def _base_type(sql_type: str) -> str:
    return re.sub(r"\s*\(.*\)\s*$", "", sql_type.strip().lower())


def _kind_of(sql_type: str, name: str) -> str:
    base = _base_type(sql_type)
    if base in _INTEGER_TYPES:
        return "integer"
    if base in _NUMBER_TYPES:
        return "number"
    if base in _TEXT_TYPES:
        return "email" if "email" in name.lower() else "text"
    if base == "date":
        return "date"
    if base.startswith("timestamp"):
        return "timestamp"
    if base in ("boolean", "bool"):
        return "boolean"
    raise ConfigError(
        f"column {name}: the generator makes no values for type {sql_type!r}. Hint: use an integer, numeric, "
        "text, date, timestamp or boolean type, or give choices = [...]."
    )


@dataclass(frozen=True)
class Drift:
    """How some tenants' copy of a table differs: ``missing`` columns, columns of another type
    (``retype``: name -> type), ``extra`` columns, or no table at all (``absent``). It applies to the
    tenants whose names match a glob in ``tenants`` (case-sensitive) and to every ``every``-th
    tenant (by position, from 1)."""

    tenants: tuple[str, ...] = ()
    every: int = 0
    missing: tuple[str, ...] = ()
    retype: tuple[tuple[str, str], ...] = ()
    extra: tuple[Column, ...] = ()
    absent: bool = False

    def applies(self, tenant: str, position: int) -> bool:
        """Whether this drift applies to ``tenant``, the ``position``-th tenant (from 1)."""
        if self.every and position % self.every == 0:
            return True
        return any(fnmatch.fnmatchcase(tenant, g) for g in self.tenants)


@dataclass(frozen=True)
class TableSpec:
    """A per-tenant table: columns, key, incremental column, dirty-row rules, per-tenant drift.

    Dirty rows: a fraction ``invalid_ratio`` of extra rows each null one ``required`` column (the
    model must drop rows with a null required column; the key columns are required too, nulled only
    in tenants planned without a primary key); a fraction ``messy_ratio`` of rows is messy in every
    column with a ``clean`` rule. ``rows`` fixes the valid rows per tenant (default: the tenant's).
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    incremental_column: str | None = None
    required: tuple[str, ...] = ()
    messy_ratio: float = 0.2
    invalid_ratio: float = 0.05
    drift: tuple[Drift, ...] = ()
    rows: int | None = None

    def __post_init__(self):
        names = [c.name for c in self.columns]
        where = f"table spec {self.name!r}"
        if not self.name or not self.columns:
            raise ConfigError(f"{where}: a table needs a name and columns.")
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: duplicate column names in {names}.")
        if not self.key:
            raise ConfigError(f"{where}: no key. Hint: key = ['{names[0]}'] (unique within a tenant).")
        for label, wanted in (
            ("key", self.key),
            ("required", self.required),
            ("incremental_column", (self.incremental_column,) if self.incremental_column else ()),
        ):
            unknown = [w for w in wanted if w not in names]
            if unknown:
                raise ConfigError(f"{where}: {label} names unknown column(s) {unknown}. Hint: columns are {names}.")
        if self.column(self.key[0]).kind not in ("key", "integer"):
            raise ConfigError(f"{where}: the first key column {self.key[0]} must be an integer column.")
        for ratio in ("messy_ratio", "invalid_ratio"):
            if not 0 <= getattr(self, ratio) <= 1:
                raise ConfigError(f"{where}: {ratio} must be between 0 and 1, got {getattr(self, ratio)}.")
        for d in self.drift:
            unknown = [c for c in (*d.missing, *(n for n, _ in d.retype)) if c not in names]
            if unknown:
                raise ConfigError(f"{where}: drift names unknown column(s) {unknown}.")
            clash = [c.name for c in d.extra if c.name in names]
            if clash:
                raise ConfigError(f"{where}: drift's extra column(s) {clash} already exist; use retype.")
        # The first key column numbers the rows whatever its type says.
        if self.column(self.key[0]).kind != "key":
            cols = tuple(replace(c, kind="key") if c.name == self.key[0] else c for c in self.columns)
            object.__setattr__(self, "columns", cols)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def all_column_names(self) -> tuple[str, ...]:
        """The spec's columns, then every drift's extra columns: the columns of the union."""
        out = list(self.column_names)
        for d in self.drift:
            out += [c.name for c in d.extra if c.name not in out]
        return tuple(out)

    def layout(self, tenant: str, position: int) -> Layout | None:
        """The columns ``tenant`` (the ``position``-th, from 1) has, or None if it has no table."""
        drifts = [d for d in self.drift if d.applies(tenant, position)] if self.drift else ()
        if any(d.absent for d in drifts):
            return None
        if not drifts:
            plain = self.__dict__.get("_plain_layout")
            if plain is None:
                plain = _layout(self, self.columns)
                object.__setattr__(self, "_plain_layout", plain)  # a memo, not state: equality ignores it
            return plain
        missing = {m for d in drifts for m in d.missing}
        retype = {n: t for d in drifts for n, t in d.retype}
        cols = [_retyped(c, retype[c.name]) if c.name in retype else c for c in self.columns if c.name not in missing]
        for d in drifts:
            cols += [c for c in d.extra if c.name not in {x.name for x in cols}]
        return _layout(self, tuple(cols))


def _retyped(column: Column, sql_type: str) -> Column:
    """``column`` as another type: a key, email or choice keeps its values where the type can hold them;
    other columns get the new type's values."""
    kind = _kind_of(sql_type, column.name)
    if column.kind == "key" or (column.kind in ("email", "choice") and kind in ("text", "email")):
        return replace(column, type=sql_type)
    return replace(
        column, type=sql_type, kind=None, choices=(), clean=column.clean if kind in ("email", "text") else None
    )


_LAYOUTS: dict[tuple[str, tuple[Column, ...]], Layout] = {}


def _layout(spec: TableSpec, columns: tuple[Column, ...]) -> Layout:
    key = (spec.name, columns)
    if key not in _LAYOUTS:
        _LAYOUTS[key] = Layout(spec, columns)
    return _LAYOUTS[key]


class Layout:
    """One tenant's version of a table (after drift): its columns, and the values of a row."""

    def __init__(self, spec: TableSpec, columns: tuple[Column, ...]):
        self.spec = spec
        self.columns = columns
        self.names = tuple(c.name for c in columns)
        # Columns whose value depends on the tenant (emails carry its name) or is the key; the rest
        # depend on (row number, messiness) only and are cached across tenants by the loader.
        self.dynamic = tuple(c for c in columns if c.kind in ("key", "email"))
        self.static = tuple(c for c in columns if c.kind not in ("key", "email"))
        self.has_key = any(c.kind == "key" for c in columns)
        self.cache: dict[tuple[int, bool], Any] = {}  # the loader's per-layout memo

    def __repr__(self) -> str:
        return f"Layout({self.spec.name!r}, {self.names})"


class SourceRow(NamedTuple):
    """One generated row, compactly: its number, messiness, and the column an invalid row nulls."""

    n: int
    messy: bool
    null: str | None = None


def _rng(seed: int, *parts: str) -> random.Random:
    return random.Random(":".join((str(seed), *parts)))  # str seeds hash stably across processes


def source_rows(
    spec: TableSpec, layout: Layout, tenant: str, *, rows: int, seed: int, null_ids: bool = False
) -> list[SourceRow]:
    """The rows of ``tenant``'s copy of ``spec``, deterministic for (table, tenant, seed).

    Rows 1..``rows`` are valid; each is messy with probability ``messy_ratio``. Extra invalid rows
    follow, each valid row adding one with probability ``invalid_ratio``: each nulls a required
    column the tenant has (in turn), or the key (every other one) when ``null_ids``; none where
    nothing may be nulled."""
    rng = _rng(seed, spec.name, tenant)
    n_invalid = sum(rng.random() < spec.invalid_ratio for _ in range(rows))
    nullable = [c for c in spec.required if c in layout.names and c not in spec.key]
    key = spec.key[0] if spec.key[0] in layout.names else None
    if not nullable and not (null_ids and key):
        n_invalid = 0  # nothing may be nulled: a primary key column cannot hold a null
    out = []
    for n in range(1, rows + n_invalid + 1):
        messy = rng.random() < spec.messy_ratio
        null = None
        if n > rows:
            null_key = null_ids and key and (n % 2 or not nullable)
            null = key if null_key else nullable[n % len(nullable)]
        out.append(SourceRow(n, messy, null))
    return out


def tenant_domain(tenant: str) -> str:
    """The tenant's name as an email domain part: ASCII letters and digits (lower() on other letters
    depends on the database's locale, and the truth must not)."""
    return "".join(c for c in tenant.lower() if c.isascii() and c.isalnum()) or "tenant"


def value(column: Column, n: int, messy: bool, domain: str) -> Any:
    """The value of ``column`` in row ``n`` of a tenant whose email domain is ``domain``."""
    kind = column.kind
    if kind == "key":
        return n
    if kind == "email":
        stem = column.name.lower().removesuffix("email").strip("_") or "user"
        text = f"{stem}{n}@{domain}.example.com"
    elif kind == "choice":
        text = column.choices[(n * column.step // column.div) % len(column.choices)]
    elif kind == "text":
        text = f"{column.name}_{n}"
    elif kind == "integer":
        return (n * 7919 + column.offset_days) % 30000
    elif kind == "number":
        return Decimal((n * 3779) % 1_000_000) / 100
    elif kind == "boolean":
        return n % 2 == 0
    else:
        moment = EPOCH + timedelta(
            hours=n, days=column.offset_days + (n % column.spread_days if column.spread_days else 0)
        )
        return moment.date() if kind == "date" else moment
    if column.clean and messy:
        return _dirty(text, column.clean)
    return text


def _dirty(text: str, rule: str) -> str:
    """``text`` with stray spaces and, where the rule restores case, the wrong case."""
    if rule == "lower":
        return f"  {text.upper()} "
    if rule == "upper":
        return f" {text.capitalize()} "
    return f" {text}  "


def cleaned(column: Column, raw: Any) -> Any:
    """What the model's cleaning makes of ``raw`` in ``column``."""
    if raw is None or column.clean is None:
        return raw
    text = raw.strip()
    return text.lower() if column.clean == "lower" else text.upper() if column.clean == "upper" else text


def row_values(layout: Layout, row: SourceRow, domain: str) -> tuple:
    """A source row's values, in ``layout.names`` order, None for NULL."""
    return tuple(None if c.name == row.null else value(c, row.n, row.messy, domain) for c in layout.columns)


def is_kept(spec: TableSpec, layout: Layout, row: SourceRow) -> bool:
    """Whether a model that drops rows with a null key or required column keeps ``row``."""
    if row.null is not None:
        return False
    return all(c in layout.names for c in (*spec.key, *spec.required))


def truth_row(spec: TableSpec, layout: Layout, tenant: str, row: SourceRow, domain: str) -> tuple | None:
    """What the union model must hold for a source row, or None if it must drop it: the tenant,
    then every column of ``spec.all_column_names`` cleaned (None where the tenant lacks it)."""
    if not is_kept(spec, layout, row):
        return None
    by_name = {c.name: cleaned(c, value(c, row.n, row.messy, domain)) for c in layout.columns}
    return (tenant, *(by_name.get(name) for name in spec.all_column_names))


USERS = TableSpec(
    name="users",
    columns=(
        Column("user_id", "bigint"),
        Column("email", "varchar(255)", kind="email", clean="lower"),
        Column("first_name", "varchar(100)", choices=FIRST_NAMES, clean="trim"),
        Column("last_name", "varchar(100)", choices=LAST_NAMES, step=7, clean="trim"),
        Column("registration_date", "date", spread_days=30),
        Column("last_login_date", "timestamp", offset_days=40),
        Column("account_status", "varchar(20)", choices=STATUSES, clean="upper"),
        Column("subscription_tier", "varchar(20)", choices=TIERS, div=3, clean="lower"),
        Column("created_at", "timestamp"),
        Column("updated_at", "timestamp", spread_days=60),
    ),
    key=("user_id",),
    incremental_column="updated_at",
    required=("email",),
)
USERS_COLUMNS = USERS.column_names


@dataclass(frozen=True)
class TenantSpec:
    """How to generate one tenant: its name, valid rows per table, and whether its tables lack a
    primary key (then invalid rows may null the key)."""

    name: str
    rows: int
    null_ids: bool = False
    position: int = 1  # from 1, for Drift.every


def tenant_names(n: int, *, prefix: str = "tenant_") -> list[str]:
    """The seed's ``tenant_a..`` names up to 26 tenants, zero-padded numbers beyond."""
    if n < 0:
        raise ConfigError(f"tenant count must be >= 0, got {n}. Hint: pass --tenants 3.")
    if n <= 26:
        return [prefix + c for c in string.ascii_lowercase[:n]]
    width = max(4, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


def plan_tenants(
    n: int | Sequence[str], *, rows: int, seed: int, jitter: float = 0.0, null_id_every: int = 0
) -> list[TenantSpec]:
    """Tenant names and sizes: ``jitter`` varies each tenant's row count by up to that fraction;
    every ``null_id_every``-th tenant is made without a primary key and with null keys."""
    if rows < 0:
        raise ConfigError(f"rows per tenant must be >= 0, got {rows}. Hint: pass --rows 2.")
    if not 0 <= jitter <= 1:
        raise ConfigError(f"jitter must be between 0 and 1, got {jitter}.")
    names = tenant_names(n) if isinstance(n, int) else list(n)
    if len(set(names)) != len(names):
        raise ConfigError(f"tenant names repeat: {sorted({x for x in names if names.count(x) > 1})[:5]}.")
    specs = []
    for i, name in enumerate(names, start=1):
        count = rows
        if jitter:
            spread = int(rows * jitter)
            count = max(0, rows + _rng(seed, name).randint(-spread, spread))
        specs.append(TenantSpec(name, count, null_ids=bool(null_id_every) and i % null_id_every == 0, position=i))
    return specs


@dataclass(frozen=True)
class TenantTruth:
    """What the generator put in one tenant's table and what the model must keep of it."""

    name: str
    source_rows: int
    kept_rows: int
    messy_rows: int
    has_primary_key: bool = True
    has_table: bool = True

    @property
    def dropped_rows(self) -> int:
        return self.source_rows - self.kept_rows


@dataclass(frozen=True)
class TableTruth:
    """The truth for one table across every tenant."""

    table: str
    tenants: tuple[TenantTruth, ...]

    @property
    def kept_by_tenant(self) -> dict[str, int]:
        return {t.name: t.kept_rows for t in self.tenants if t.has_table}

    @property
    def source_rows(self) -> int:
        return sum(t.source_rows for t in self.tenants)

    @property
    def kept_rows(self) -> int:
        return sum(t.kept_rows for t in self.tenants)


@dataclass(frozen=True)
class DatasetTruth:
    """The truth for a whole generated tenant set: per table, per tenant. The properties without a
    table name describe the first table (``users`` by default)."""

    seed: int
    tables: tuple[TableTruth, ...]
    seconds: float = field(default=0.0, compare=False)

    def table(self, name: str) -> TableTruth:
        for t in self.tables:
            if t.table == name:
                return t
        raise KeyError(f"no table {name!r} was generated; tables: {[t.table for t in self.tables]}")

    @property
    def tenants(self) -> tuple[TenantTruth, ...]:
        return self.tables[0].tenants if self.tables else ()

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tenants]

    @property
    def kept_by_tenant(self) -> dict[str, int]:
        return self.tables[0].kept_by_tenant if self.tables else {}

    @property
    def source_rows(self) -> int:
        return sum(t.source_rows for t in self.tables)

    @property
    def kept_rows(self) -> int:
        return sum(t.kept_rows for t in self.tables)


def tenant_truth(spec: TableSpec, layout: Layout | None, tenant: TenantSpec, data: list[SourceRow]) -> TenantTruth:
    """The truth about one tenant's generated table."""
    if layout is None:
        return TenantTruth(tenant.name, 0, 0, 0, not tenant.null_ids, has_table=False)
    kept = [r for r in data if is_kept(spec, layout, r)]
    messy = sum(1 for r in kept if r.messy)
    return TenantTruth(tenant.name, len(data), len(kept), messy, has_primary_key=not tenant.null_ids)


def table_rows(spec: TableSpec, tenant: TenantSpec, seed: int) -> tuple[Layout | None, list[SourceRow]]:
    """``tenant``'s layout of ``spec`` and its source rows (none when the tenant has no table)."""
    layout = spec.layout(tenant.name, tenant.position)
    if layout is None:
        return None, []
    rows = tenant.rows if spec.rows is None else spec.rows
    return layout, source_rows(spec, layout, tenant.name, rows=rows, seed=seed, null_ids=tenant.null_ids)


def expected_rows(spec: TableSpec, tenants: Sequence[TenantSpec], seed: int) -> list[tuple]:
    """Every row the union of ``spec`` over ``tenants``, cleaned, must hold: (tenant, *the columns of
    ``spec.all_column_names``), sorted by (tenant, key)."""
    out = []
    for tenant in tenants:
        layout, data = table_rows(spec, tenant, seed)
        if layout is None:
            continue
        domain = tenant_domain(tenant.name)
        out.extend(r for r in (truth_row(spec, layout, tenant.name, d, domain) for d in data) if r is not None)
    key_at = [spec.all_column_names.index(k) + 1 for k in spec.key]
    return sorted(out, key=lambda r: (r[0], *(r[i] for i in key_at)))


def dataset_truth(
    specs: Sequence[TableSpec], tenants: Sequence[TenantSpec], seed: int, *, seconds: float = 0.0
) -> DatasetTruth:
    """The truth for ``tenants`` x ``specs`` without loading anything (the loader returns the same)."""
    tables = []
    for spec in specs:
        truths = []
        for tenant in tenants:
            layout, data = table_rows(spec, tenant, seed)
            truths.append(tenant_truth(spec, layout, tenant, data))
        tables.append(TableTruth(spec.name, tuple(truths)))
    return DatasetTruth(seed, tuple(tables), seconds)


# -- table specs from a config file (toml) or plain Python dicts -------------------------------------


def table_spec(data: Mapping[str, Any] | TableSpec) -> TableSpec:
    """A :class:`TableSpec` from a mapping as written in ``tenant-harness.toml``::

        [[harness.tables]]
        name = "orders"
        key = ["order_id"]
        incremental_column = "updated_at"
        required = ["customer_email"]
        columns = [{name = "order_id", type = "bigint"},
                   {name = "customer_email", type = "varchar(255)", clean = "lower"}, ...]
        drift = [{tenants = ["globex"], missing = ["coupon"], retype = {amount = "integer"},
                  extra = [{name = "channel", type = "text"}]}]

    ``"users"`` (a bare name) is the default users spec.
    """
    if isinstance(data, TableSpec):
        return data
    if isinstance(data, str):
        if data == "users":
            return USERS
        raise ConfigError(f"unknown table spec {data!r}. Hint: 'users', or a mapping with name, columns and key.")
    if not isinstance(data, Mapping):
        raise ConfigError(f"a table spec must be a mapping, got {data!r}.")
    allowed = {"name", "columns", "key", "incremental_column", "required", "messy_ratio", "invalid_ratio",
               "drift", "rows"}  # fmt: skip
    _no_unknown(data, allowed, f"table spec {data.get('name', '?')!r}")
    columns = data.get("columns")
    if columns is None and data.get("name") == "users":
        base = USERS
        return replace(base, **{k: _spec_field(k, v) for k, v in data.items() if k != "name"})
    try:
        return TableSpec(
            name=str(data["name"]),
            columns=tuple(_column(c) for c in columns or ()),
            key=_names(data.get("key", ())),
            incremental_column=data.get("incremental_column"),
            required=_names(data.get("required", ())),
            messy_ratio=float(data.get("messy_ratio", 0.2)),
            invalid_ratio=float(data.get("invalid_ratio", 0.05)),
            drift=tuple(_drift(d) for d in data.get("drift", ())),
            rows=data.get("rows"),
        )
    except KeyError as exc:
        raise ConfigError(f"a table spec needs {exc}. Hint: name = 'orders', key = [...], columns = [...].") from exc


def _spec_field(name: str, raw: Any) -> Any:
    if name in ("key", "required"):
        return _names(raw)
    if name == "drift":
        return tuple(_drift(d) for d in raw)
    return raw


def _names(raw: Any) -> tuple[str, ...]:
    return (raw,) if isinstance(raw, str) else tuple(raw)


def _no_unknown(data: Mapping, allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}. Hint: known keys are {', '.join(sorted(allowed))}."
        )


def _column(data: Mapping[str, Any] | Column) -> Column:
    if isinstance(data, Column):
        return data
    _no_unknown(data, {f for f in Column.__dataclass_fields__}, f"column {data.get('name', '?')!r}")
    given = dict(data)
    if "choices" in given:
        given["choices"] = tuple(given["choices"])
    return Column(**given)


def _drift(data: Mapping[str, Any] | Drift) -> Drift:
    if isinstance(data, Drift):
        return data
    _no_unknown(data, {"tenants", "every", "missing", "retype", "extra", "absent"}, "table drift")
    retype = data.get("retype", {})
    return Drift(
        tenants=_names(data.get("tenants", ())),
        every=int(data.get("every", 0)),
        missing=_names(data.get("missing", ())),
        retype=tuple(retype.items()) if isinstance(retype, Mapping) else tuple(tuple(x) for x in retype),
        extra=tuple(_column(c) for c in data.get("extra", ())),
        absent=bool(data.get("absent", False)),
    )


def table_specs(items: Iterable[Mapping[str, Any] | TableSpec | str] | None) -> tuple[TableSpec, ...]:
    """Table specs from a list (default: just ``users``); names must be unique."""
    specs = tuple(table_spec(x) for x in items) if items else (USERS,)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"table specs repeat a name: {names}.")
    return specs


__all__ = [
    "CLEAN_RULES", "DEMO_TENANTS", "EPOCH", "TRUTH_SCHEMA", "USERS", "USERS_COLUMNS", "Column",
    "DatasetTruth", "Drift", "Layout", "SourceRow", "TableSpec", "TableTruth", "TenantSpec", "TenantTruth",
    "cleaned", "dataset_truth", "expected_rows", "is_kept", "plan_tenants", "row_values", "source_rows",
    "table_rows", "table_spec", "table_specs", "tenant_domain", "tenant_names", "tenant_truth", "truth_row",
    "value",
]  # fmt: skip
