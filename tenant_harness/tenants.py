"""Tenant generator: N schemas with per-tenant tables, deterministic per seed, with ground truth.

The pure part (table specs, rows, truth) is :mod:`tenant_harness.dataset`; writing it to a database is
:mod:`tenant_harness.loader`. This module is the generator's public face, and the ``users`` shortcuts
(the seed guide's table, the default spec): each tenant gets ``rows`` valid users; some are *messy*
(mixed case, stray spaces in email, names, status and tier) and must come out cleaned; a few extra
*invalid* rows (null email, or null user_id in tenants made without a primary key) must be dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .dataset import (
    DEMO_TENANTS,
    TRUTH_SCHEMA,
    USERS,
    USERS_COLUMNS,
    Column,
    DatasetTruth,
    Drift,
    SourceRow,
    TableSpec,
    TableTruth,
    TenantSpec,
    TenantTruth,
    expected_rows,
    plan_tenants,
    row_values,
    source_rows,
    table_spec,
    table_specs,
    tenant_domain,
    tenant_names,
    truth_row,
)
from .loader import generate_tenants


def _users(messy_ratio: float = 0.2, invalid_ratio: float = 0.05) -> TableSpec:
    if (messy_ratio, invalid_ratio) == (USERS.messy_ratio, USERS.invalid_ratio):
        return USERS
    return replace(USERS, messy_ratio=messy_ratio, invalid_ratio=invalid_ratio)


def tenant_rows(
    tenant: str,
    *,
    rows: int,
    seed: int,
    messy_ratio: float = 0.2,
    invalid_ratio: float = 0.05,
    null_ids: bool = False,
) -> list[SourceRow]:
    """The rows of one tenant's ``users`` table, deterministic for (tenant, seed): ``rows`` valid users
    (user_id 1..rows), each messy with probability ``messy_ratio``, then invalid extras (null email,
    or, with ``null_ids``, null user_id), each valid user adding one with probability ``invalid_ratio``."""
    spec = _users(messy_ratio, invalid_ratio)
    return source_rows(spec, spec.layout(tenant, 1), tenant, rows=rows, seed=seed, null_ids=null_ids)


def source_values(row: SourceRow, tenant: str) -> tuple:
    """All ten ``users`` columns of ``tenant``'s generated row, None for NULL."""
    return row_values(USERS.layout(tenant, 1), row, tenant_domain(tenant))


def clean_row(tenant: str, row: SourceRow) -> tuple | None:
    """What ``all_users`` must hold for a source row (tenant_id, then the users columns, cleaned as the
    model does), or None for a row the model must drop."""
    return truth_row(USERS, USERS.layout(tenant, 1), tenant, row, tenant_domain(tenant))


def expected_all_users(truth_seed: int, specs: Sequence[TenantSpec], **ratios) -> list[tuple]:
    """Every row ``all_users`` must hold, computed in Python; sorted by (tenant_id, user_id)."""
    return expected_rows(_users(**ratios), specs, truth_seed)


__all__ = [
    "DEMO_TENANTS", "TRUTH_SCHEMA", "USERS", "USERS_COLUMNS", "Column", "DatasetTruth", "Drift", "SourceRow",
    "TableSpec", "TableTruth", "TenantSpec", "TenantTruth", "clean_row", "expected_all_users", "expected_rows",
    "generate_tenants", "plan_tenants", "source_values", "table_spec", "table_specs", "tenant_names",
    "tenant_rows",
]  # fmt: skip
