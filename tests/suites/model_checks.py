"""Assertions about any built tenant_union model, held to the generator's truth: the model, its
source table, key and tenant column are arguments. Shared by the harness's own suites (local and
Redshift) and usable by a project's suite. ``query`` runs SQL on the engine and returns tuples."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from tenant_harness.dataset import TableSpec, TableTruth, TenantSpec, expected_rows

Query = Callable[[str], list[tuple]]


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def expected_counts(truth: TableTruth, selected: Collection[str] | None = None) -> dict[str, int]:
    """Rows per tenant the model must hold: the truth's kept rows of the selected tenants with any."""
    return {n: k for n, k in truth.kept_by_tenant.items() if k and (selected is None or n in selected)}


def counts_equal_truth(
    query: Query, table: str, truth: TableTruth, *, tenant_column: str = "tenant_id",
    selected: Collection[str] | None = None,
) -> None:  # fmt: skip
    """Rows per tenant equal the truth, for the ``selected`` tenants (default: every generated one)."""
    counts = dict(query(f"select {ident(tenant_column)}, count(*) from {table} group by 1"))
    assert counts == expected_counts(truth, selected)


def unique_key(query: Query, table: str, key: Sequence[str], *, tenant_column: str = "tenant_id") -> None:
    """No (tenant, key) occurs twice."""
    cols = ", ".join(ident(c) for c in (tenant_column, *key))
    assert query(f"select {cols} from {table} group by {cols} having count(*) > 1") == []


def every_selected_tenant_once(
    query: Query, table: str, truth: TableTruth, *, tenant_column: str = "tenant_id",
    selected: Collection[str] | None = None,
) -> None:  # fmt: skip
    """Exactly the selected tenants with valid rows are in the table: none missing, none extra."""
    tenants = sorted(r[0] for r in query(f"select distinct {ident(tenant_column)} from {table}"))
    assert tenants == sorted(expected_counts(truth, selected))


def rows_equal_truth(
    query: Query, table: str, spec: TableSpec, tenants: Sequence[TenantSpec], seed: int,
    columns: Sequence[str], *, tenant_column: str = "tenant_id",
) -> None:  # fmt: skip
    """Row by row: ``columns`` of the model equal the spec's cleaned truth for ``tenants``."""
    at = [spec.all_column_names.index(c) + 1 for c in columns]
    key_at = [list(columns).index(k) + 1 for k in spec.key]
    want = sorted(((r[0], *(r[i] for i in at)) for r in expected_rows(spec, tenants, seed)),
                  key=lambda r: (r[0], *(r[i] for i in key_at)))  # fmt: skip
    cols = ", ".join(ident(c) for c in (tenant_column, *columns))
    got = sorted(query(f"select {cols} from {table}"), key=lambda r: (r[0], *(r[i] for i in key_at)))
    assert got == want
