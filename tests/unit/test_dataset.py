"""Table specs: any table, drift per tenant, dirty-row rules, and a truth that follows from the rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenant_harness.dataset import (
    USERS,
    Column,
    Drift,
    TableSpec,
    dataset_truth,
    expected_rows,
    plan_tenants,
    table_rows,
    table_spec,
    table_specs,
)
from tenant_harness.errors import ConfigError

pytestmark = [pytest.mark.unit, pytest.mark.local]

ORDERS = {
    "name": "orders",
    "key": ["order_id"],
    "incremental_column": "updated_at",
    "required": ["customer_email"],
    "columns": [
        {"name": "order_id", "type": "bigint"},
        {"name": "customer_email", "type": "varchar(255)", "clean": "lower"},
        {"name": "status", "type": "varchar(20)", "choices": ["placed", "shipped"], "clean": "upper"},
        {"name": "amount", "type": "numeric(12,2)"},
        {"name": "updated_at", "type": "timestamp", "spread_days": 30},
    ],
    "drift": [
        {"tenants": ["globex"], "missing": ["status"]},
        {"tenants": ["initech"], "retype": {"amount": "integer"}, "extra": [{"name": "coupon", "type": "text"}]},
        {"tenants": ["hooli"], "absent": True},
    ],
}


def test_users_is_the_default_spec_and_a_spec_like_any_other():
    assert table_specs(None) == (USERS,)
    assert table_spec("users") is USERS
    assert USERS.key == ("user_id",) and USERS.incremental_column == "updated_at"
    assert table_spec({"name": "users", "invalid_ratio": 0.5}).invalid_ratio == 0.5


def test_a_spec_from_the_toml_shape_with_drift_per_tenant():
    spec = table_spec(ORDERS)
    assert spec.all_column_names == ("order_id", "customer_email", "status", "amount", "updated_at", "coupon")
    assert spec.layout("acme", 1).names == ("order_id", "customer_email", "status", "amount", "updated_at")
    assert "status" not in spec.layout("globex", 2).names
    initech = spec.layout("initech", 3)
    assert dict((c.name, c.type) for c in initech.columns)["amount"] == "integer"
    assert initech.names[-1] == "coupon"
    assert spec.layout("hooli", 4) is None


def test_truth_follows_the_drift():
    spec = table_spec(ORDERS)
    tenants = plan_tenants(["acme", "globex", "initech", "hooli"], rows=40, seed=3)
    rows = expected_rows(spec, tenants, 3)
    by_tenant: dict[str, list[tuple]] = {}
    for r in rows:
        by_tenant.setdefault(r[0], []).append(r)
    assert set(by_tenant) == {"acme", "globex", "initech"}  # hooli has no table
    assert all(len(v) == 40 for v in by_tenant.values())  # every valid row kept, every invalid one dropped
    assert all(r[3] is None for r in by_tenant["globex"])  # the missing column is NULL
    assert all(r[3] in {"PLACED", "SHIPPED"} for r in by_tenant["acme"])  # cleaned
    assert all(isinstance(r[4], int) for r in by_tenant["initech"])  # the other type's values
    assert all(isinstance(r[4], Decimal) for r in by_tenant["acme"])
    assert all(r[6] is not None for r in by_tenant["initech"]) and all(r[6] is None for r in by_tenant["acme"])
    truth = dataset_truth([spec], tenants, 3).table("orders")
    assert truth.kept_by_tenant == {"acme": 40, "globex": 40, "initech": 40}
    assert truth.source_rows > truth.kept_rows  # there were invalid rows to drop
    assert not next(t for t in truth.tenants if t.name == "hooli").has_table


def test_drift_every_nth_tenant():
    spec = TableSpec("t", (Column("id", "integer"), Column("x", "text")), key=("id",),
                     drift=(Drift(every=3, missing=("x",)),))  # fmt: skip
    plan = plan_tenants(7, rows=1, seed=1)
    assert [t.name for t in plan if "x" not in spec.layout(t.name, t.position).names] == ["tenant_c", "tenant_f"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(key=["nope"]), "key names unknown column"),
        (lambda d: d.update(key=[]), "no key"),
        (lambda d: d.update(colour="red"), "unknown key"),
        (lambda d: d["columns"].append({"name": "j", "type": "jsonb"}), "no values for type"),
        (lambda d: d["columns"][1].update(clean="title"), "clean must be one of"),
        (lambda d: d["drift"].append({"tenants": ["x"], "missing": ["ghost"]}), "drift names unknown"),
        (lambda d: d["drift"].append({"tenants": ["x"], "extra": [{"name": "amount"}]}), "already exist"),
    ],
)
def test_bad_specs_are_clear_errors(change, message):
    data = {**ORDERS, "columns": [dict(c) for c in ORDERS["columns"]], "drift": list(ORDERS["drift"])}
    change(data)
    with pytest.raises(ConfigError, match=message):
        table_spec(data)


@given(st.integers(0, 40), st.integers(0, 2**32), st.booleans(), st.floats(0, 1), st.floats(0, 1))
def test_every_valid_row_kept_every_invalid_row_dropped(rows, seed, null_ids, messy, invalid):
    spec = table_spec({**ORDERS, "messy_ratio": messy, "invalid_ratio": invalid})
    tenant = plan_tenants(["acme"], rows=rows, seed=seed, null_id_every=1 if null_ids else 0)[0]
    layout, data = table_rows(spec, tenant, seed)
    assert (layout, data) == table_rows(spec, tenant, seed)  # deterministic
    kept = expected_rows(spec, [tenant], seed)
    assert [r[1] for r in kept] == list(range(1, rows + 1))
    assert len(data) - rows == sum(1 for d in data if d.null)  # the extras, and only they, are invalid
    if not null_ids:
        assert all(d.null != "order_id" for d in data)


@given(rows=st.integers(0, 60), seed=st.integers(0, 10**6))
def test_a_spec_without_required_columns_never_nulls_a_primary_key(rows, seed):
    """With nothing but the key to null, a tenant with a primary key gets no invalid rows (a null key
    would not load); found by loading `[[harness.tables]]` with a key and no `required`."""
    spec = TableSpec("orders", (Column("order_id", "bigint"), Column("amount", "numeric(12,2)")), key=("order_id",))
    tenants = plan_tenants(["acme", "globex"], rows=rows, seed=seed)
    truth = dataset_truth([spec], tenants, seed).table("orders")
    assert truth.kept_by_tenant == {"acme": rows, "globex": rows}
    assert truth.source_rows == truth.kept_rows
