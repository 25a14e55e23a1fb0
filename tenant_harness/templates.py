"""Tenant sets as databases: each set generated once into a template database, then cloned per use.

The database lifecycle the pytest plugin's fixtures tie to test scopes; usable without pytest too.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from .database import create_database, drop_database
from .endpoint import Endpoint
from .tenants import DEMO_TENANTS, DatasetTruth, TableSpec, generate_tenants, table_specs


@dataclass(frozen=True)
class TenantSet:
    """The parameters of a generated tenant set; the key of its template database."""

    n: int = 3
    rows: int = 2
    seed: int = 42
    jitter: float = 0.0
    null_id_every: int = 0
    tenant_names: tuple[str, ...] | None = None  # explicit schema names instead of n
    tables: tuple[TableSpec, ...] = ()  # the tables each tenant gets (specs or toml-style mappings); () = users

    def __post_init__(self):
        if self.tables:
            object.__setattr__(self, "tables", table_specs(self.tables))

    @property
    def template_name(self) -> str:
        # A digest, not the names: schema names may hold anything, database names should not.
        digest = hashlib.sha1(repr(self).encode()).hexdigest()[:12]
        return f"th_tpl_{len(self.names) if self.tenant_names else self.n}_{self.rows}_{digest}"

    @property
    def names(self) -> Any:
        if self.tenant_names is not None:
            return list(self.tenant_names)
        return DEMO_TENANTS if self.n == 3 else self.n


@dataclass(frozen=True)
class TenantDatabase:
    """A database with generated tenants: where it is, and the generator's truth about it."""

    endpoint: Endpoint
    name: str
    truth: DatasetTruth
    spec: TenantSet

    @property
    def conninfo(self) -> str:
        return self.endpoint.conninfo(self.name)

    def dbt_env(self) -> dict[str, str]:
        return self.endpoint.dbt_env(self.name)

    def connect(self, **kwargs: Any) -> psycopg.Connection:
        """A new psycopg connection to this database (close it, or use ``with``)."""
        return psycopg.connect(self.conninfo, **kwargs)

    def query(self, query: Any, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        """The rows of ``query`` (text with ``%s`` placeholders, or a ``psycopg.sql`` object) on a
        connection of its own, committed; ``[]`` for a statement that returns no rows."""
        with self.connect() as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def scalar(self, query: Any, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """The first column of the first row of ``query``, or None when it returns no row."""
        rows = self.query(query, params)
        return rows[0][0] if rows else None


@dataclass
class TemplateFactory:
    """Builds each tenant set once into a template database; clones are cheap.

    Clones reuse database names (dropped and cloned afresh each time): each clone gets the first of
    this factory's names that no live clone holds, so consecutive clones share a name even while a
    module- or session-scoped clone holds another. dbt's partial parsing starts over whenever the
    connection's database name changes, and a full parse costs about three times a small run.
    """

    endpoint: Endpoint
    truths: dict[TenantSet, DatasetTruth] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    clone_name: str = field(default_factory=lambda: f"th_test_{uuid.uuid4().hex[:12]}")
    live: set[str] = field(default_factory=set)
    # Template names carry the factory's own token: two factories on one server (a test's own
    # factory beside the session's) must never drop each other's templates.
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def _template_name(self, spec: TenantSet) -> str:
        return f"{spec.template_name}_{self.token}"

    def template(self, spec: TenantSet) -> tuple[str, DatasetTruth]:
        """The template database for ``spec`` (built on first use) and its truth."""
        if spec not in self.truths:
            name = self._template_name(spec)
            drop_database(self.endpoint, name)
            create_database(self.endpoint, name)
            self.created.append(name)
            self.truths[spec] = generate_tenants(
                self.endpoint.conninfo(name), spec.names, spec.rows, spec.seed,
                jitter=spec.jitter, null_id_every=spec.null_id_every, tables=spec.tables or None,
            )  # fmt: skip
        return self._template_name(spec), self.truths[spec]

    def clone(self, spec: TenantSet, name: str | None = None) -> TenantDatabase:
        """A fresh database holding ``spec``'s tenants, cloned from its template; :meth:`drop` it."""
        template, truth = self.template(spec)
        if name is None:
            name = next(n for i in itertools.count() if (n := self._clone_name(i)) not in self.live)
            drop_database(self.endpoint, name)  # this factory's earlier clone, should its drop have failed
        create_database(self.endpoint, name, template=template)
        self.live.add(name)
        return TenantDatabase(endpoint=self.endpoint, name=name, truth=truth, spec=spec)

    def _clone_name(self, slot: int) -> str:
        return self.clone_name if slot == 0 else f"{self.clone_name}_{slot}"

    def drop(self, db: TenantDatabase) -> None:
        """Drop a clone (ending its sessions); its name is free for the next clone."""
        drop_database(self.endpoint, db.name)
        self.live.discard(db.name)

    def drop_all(self) -> None:
        """Drop every clone still there and every template database this factory made."""
        for name in [*self.live, *self.created]:
            drop_database(self.endpoint, name)
