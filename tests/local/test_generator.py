"""The loader writes exactly the rows the dataset module describes, for any table spec, by COPY and
by INSERT, and records the truth beside them."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from tenant_harness.database import create_database, drop_database
from tenant_harness.dataset import USERS, plan_tenants, table_rows, table_spec, tenant_domain
from tenant_harness.errors import ConfigError
from tenant_harness.loader import generate_tenants
from tests.unit.test_dataset import ORDERS

pytestmark = pytest.mark.local

NAMES = ["acme", "globex", "initech", "hooli", "Umbrella Corp"]


@pytest.fixture
def empty_db(tenant_server):
    endpoint, name = tenant_server.endpoint, f"th_gen_{uuid.uuid4().hex[:10]}"
    create_database(endpoint, name)
    try:
        yield endpoint.conninfo(name)
    finally:
        drop_database(endpoint, name)


@pytest.mark.parametrize(
    ("bulk", "inline_rows"), [("copy", 0), ("copy", 100), ("insert", 100)], ids=["copy", "inline", "insert"]
)
def test_several_tables_with_drift_load_exactly(empty_db, bulk, inline_rows):
    orders = table_spec(ORDERS)
    truth = generate_tenants(empty_db, NAMES, 30, 9, tables=[USERS, orders], null_id_every=2, bulk=bulk, workers=2,
                             commit_every=2, inline_rows=inline_rows)  # fmt: skip
    assert [t.table for t in truth.tables] == ["users", "orders"]
    with psycopg.connect(empty_db) as conn:
        for spec in (USERS, orders):
            for tenant in plan_tenants(NAMES, rows=30, seed=9, null_id_every=2):
                layout, data = table_rows(spec, tenant, 9)
                table = sql.Identifier(tenant.name, spec.name)
                exists = conn.execute("select to_regclass(%s)", (table.as_string(conn),)).fetchone()[0]
                if layout is None:
                    assert exists is None, f"{tenant.name} should have no {spec.name}"
                    continue
                cols = conn.execute(
                    "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 order by attnum",
                    (table.as_string(conn),),
                ).fetchall()
                assert tuple(c[0] for c in cols) == layout.names
                got = conn.execute(sql.SQL("select * from {}").format(table)).fetchall()
                domain = tenant_domain(tenant.name)
                want = [tuple(None if c.name == r.null else _value(c, r, domain) for c in layout.columns) for r in data]
                key = layout.names.index(spec.key[0])
                assert _sorted(got, key) == _sorted(want, key)
        recorded = dict(
            ((t, n), (s, e))
            for t, n, s, e in conn.execute("select * from harness_truth.tenant_rows").fetchall()  # fmt: skip
        )
    for table in truth.tables:
        for t in table.tenants:
            if t.has_table:
                assert recorded[(table.table, t.name)] == (t.source_rows, t.kept_rows)
            else:
                assert (table.table, t.name) not in recorded
    assert truth.table("orders").kept_by_tenant == {n: 30 for n in NAMES if n != "hooli"}


AWKWARD = {
    "name": "notes",
    "key": ["note_id"],
    "columns": [
        {"name": "note_id", "type": "bigint"},
        {"name": "body", "type": "text", "choices": ["O'Brien", "back\\slash", "{0} {x}", "tab\there", "new\nline",
                                                       "Müller", "''", "\\'"], "clean": "trim"},
        {"name": "flag", "type": "boolean"},
        {"name": "due", "type": "date", "spread_days": 9},
        {"name": "price", "type": "numeric(12,2)"},
    ],
}  # fmt: skip


@pytest.mark.parametrize(("bulk", "inline_rows"), [("copy", 0), ("copy", 100), ("insert", 100)])
def test_awkward_values_load_exactly_by_every_path(empty_db, bulk, inline_rows):
    """Quotes, backslashes, braces, tabs and newlines in text; booleans, dates, numerics: COPY text,
    inline INSERT literals and the INSERT loader each write the generator's values unchanged."""
    spec = table_spec(AWKWARD)
    generate_tenants(empty_db, ["acme", "globex"], 12, 3, tables=[spec], bulk=bulk, inline_rows=inline_rows)
    with psycopg.connect(empty_db) as conn:
        for tenant in plan_tenants(["acme", "globex"], rows=12, seed=3):
            layout, data = table_rows(spec, tenant, 3)
            got = conn.execute(sql.SQL("select * from {} order by 1").format(sql.Identifier(tenant.name, "notes")))
            domain = tenant_domain(tenant.name)
            want = [tuple(_value(c, r, domain) for c in layout.columns) for r in data]
            assert got.fetchall() == want


def _sorted(rows, key):
    return sorted(rows, key=lambda r: (r[key] is None, r[key] or 0, str(r)))


def _value(column, row, domain):
    from tenant_harness.dataset import value

    return value(column, row.n, row.messy, domain)


@pytest.mark.tenants(tenant_names=("acme", "globex", "initech"), rows=6, tables=[ORDERS, "users"])
def test_the_tenants_marker_takes_table_specs(tenant_database):
    truth = tenant_database.truth
    assert [t.table for t in truth.tables] == ["orders", "users"]
    assert truth.table("orders").kept_by_tenant == {"acme": 6, "globex": 6, "initech": 6}
    with psycopg.connect(tenant_database.conninfo) as conn:
        count = conn.execute("select count(*) from initech.orders where coupon is not null").fetchone()[0]
    assert count == truth.table("orders").tenants[2].source_rows  # initech's drift: the extra column


# A messy value (a `clean` rule adds spaces) does not fit varchar(3): the spec's types are wrong.
TOO_NARROW = {
    "name": "invoices",
    "key": ["invoice_no"],
    "columns": [
        {"name": "invoice_no", "type": "bigint"},
        {"name": "currency", "type": "varchar(3)", "choices": ["EUR", "USD"], "clean": "lower"},
    ],
}  # fmt: skip


@pytest.mark.parametrize(("bulk", "inline_rows"), [("copy", 0), ("copy", 100), ("insert", 100)])
def test_rows_that_do_not_fit_the_specs_types_name_the_table_and_the_fix(empty_db, bulk, inline_rows):
    with pytest.raises(ConfigError) as failed:
        generate_tenants(empty_db, ["acme"], 20, 3, tables=[table_spec(TOO_NARROW)], bulk=bulk, inline_rows=inline_rows)
    message = str(failed.value)
    assert "table invoices of tenant(s) acme" in message and "value too long for type character varying(3)" in message
    assert "[[harness.tables]]" in message
