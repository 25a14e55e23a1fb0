"""The generator's pure parts: names, determinism, and a truth that follows from the rows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenant_harness.errors import ConfigError
from tenant_harness.tenants import clean_row, plan_tenants, source_values, tenant_names, tenant_rows

pytestmark = [pytest.mark.unit, pytest.mark.local]


def test_names_follow_the_seed_then_zero_padded_numbers():
    assert tenant_names(3) == ["tenant_a", "tenant_b", "tenant_c"]
    assert tenant_names(27)[:2] == ["tenant_0001", "tenant_0002"]
    assert tenant_names(12345)[-1] == "tenant_12345"
    with pytest.raises(ConfigError, match="-1"):
        tenant_names(-1)


@given(st.text(min_size=1, max_size=20), st.integers(0, 60), st.integers(0, 2**32), st.booleans())
def test_rows_are_deterministic_and_truth_is_consistent(tenant, rows, seed, null_ids):
    data = tenant_rows(tenant, rows=rows, seed=seed, null_ids=null_ids, invalid_ratio=0.3)
    assert data == tenant_rows(tenant, rows=rows, seed=seed, null_ids=null_ids, invalid_ratio=0.3)
    kept = [r for r in (clean_row(tenant, d) for d in data) if r is not None]
    assert len(kept) == rows  # every valid user survives, every invalid extra is dropped
    assert len({r[1] for r in kept}) == rows
    if not null_ids:
        assert all(d.null != "user_id" for d in data)  # a primary key tenant never has a null id
    for row in kept:
        assert row[0] == tenant
        assert row[2] == row[2].strip().lower()
        assert row[7] in {"ACTIVE", "INACTIVE", "SUSPENDED"}
        assert row[8] in {"free", "basic", "premium", "enterprise"}


def test_messy_rows_really_are_messy():
    data = tenant_rows("tenant_a", rows=200, seed=1, messy_ratio=0.5)
    messy = [d for d in data if d.messy]
    assert 50 < len(messy) < 150
    values = source_values(messy[0], "tenant_a")
    assert values[1] != values[1].strip().lower()  # email needs cleaning
    assert values[6] != values[6].strip().upper()  # so does the status


def test_plan_jitter_and_null_id_tenants():
    plan = plan_tenants(100, rows=20, seed=3, jitter=0.5, null_id_every=10)
    assert all(10 <= s.rows <= 30 for s in plan)
    assert len({s.rows for s in plan}) > 5
    assert [s.name for s in plan if s.null_ids] == [f"tenant_{i:04d}" for i in range(10, 101, 10)]
    with pytest.raises(ConfigError, match="jitter"):
        plan_tenants(3, rows=2, seed=1, jitter=2)
