"""The pure parts of tenant discovery (macros/discovery/get_tenant_schemas.sql), run on the macros'
own Jinja source: pattern validation, offline tenants, Redshift column types and the Zero-ETL
Synced filter. The queries themselves run for real in tests/local/test_discovery.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from .jinja_macros import CompilerError, Macros

pytestmark = [pytest.mark.unit, pytest.mark.local]

FILES = ("discovery/get_tenant_schemas.sql", "utils/_sql_text.sql")


def macros() -> Macros:
    """Fresh macros (their own warnings list), with a target for the messages that name it."""
    return Macros(*FILES, target=SimpleNamespace(user="analyst", database="dev", schema="analytics"))


@pytest.mark.parametrize("pattern", ["tenant_*", ["acme", "cust_*"], ("a",)])
def test_a_glob_or_a_list_of_globs_is_a_pattern_list(pattern):
    assert list(macros()._tenant_patterns(pattern)) == ([pattern] if isinstance(pattern, str) else list(pattern))


@pytest.mark.parametrize("bad", [[], {"tenant_*": "x"}, {}, ["tenant_*", 3], [3], 7, None])
def test_anything_else_is_refused_naming_the_value(bad):
    with pytest.raises(CompilerError, match="tenant_schema_pattern must be a glob or a non-empty list of globs"):
        macros()._tenant_patterns(bad)


OFFLINE = {
    "names": ["tenant_a", "TENANT_B", "tenant_\nc", "acme", "tenant_d"],
    "columns": [["user_id", "bigint"], ["email", "text"]],
    "columns_by_tenant": {"tenant_d": [["user_id", "integer"]]},
}


def test_offline_tenants_match_the_glob_as_discovery_does():
    # Case-insensitive and across any character, like ILIKE on PostgreSQL; each tenant has the table.
    got = macros()._offline_tenant_schemas(OFFLINE, "tenant_*")
    assert [t["name"] for t in got] == ["tenant_a", "TENANT_B", "tenant_\nc", "tenant_d"]
    assert all(t["has_table"] is True and t["readable"] is True for t in got)
    columns = {t["name"]: json.loads(t["columns_json"]) for t in got}
    assert columns["tenant_a"] == OFFLINE["columns"] and columns["tenant_d"] == OFFLINE["columns_by_tenant"]["tenant_d"]
    # The glob given is the one used, whatever var tenant_schema_pattern says.
    assert [t["name"] for t in macros()._offline_tenant_schemas(OFFLINE, "acme")] == ["acme"]
    assert macros()._offline_tenant_schemas(OFFLINE, "") == []


@pytest.mark.parametrize(
    ("parts", "spelled"),
    [(("character varying", 255, None, None), "character varying(255)"), (("character", 3, None, None), "character(3)"),
     (("character varying", None, None, None), "character varying"), (("numeric", None, 10, 2), "numeric(10,2)"),
     (("numeric", None, 18, None), "numeric(18,0)"), (("numeric", None, None, None), "numeric"),
     (("integer", None, 32, 0), "integer"), (("bigint", None, 64, 0), "bigint"), (("text", None, None, None), "text"),
     (("timestamp without time zone", None, None, None), "timestamp without time zone")],
)  # fmt: skip
def test_redshift_column_types_are_spelled_as_format_type_spells_them(parts, spelled):
    """SVV_ALL_COLUMNS gives integer types a numeric_precision too (as information_schema does)."""
    assert macros()._redshift_type(*parts) == spelled


def tenant(name, has_table=True):
    return {"name": name, "has_table": has_table, "readable": True, "columns_json": "[]"}


def test_only_synced_zero_etl_tables_are_read_and_the_others_are_named():
    m = macros()
    tenants = [tenant("a"), tenant("b"), tenant("c"), tenant("d", has_table=False)]
    got = m._synced_tenants(tenants, {"a": "Synced", "b": "ResyncRequired", "c": None}, "users", "zdb")
    assert [t["name"] for t in got] == ["a", "d"]  # d has no table: the caller reports it
    assert len(m.warnings) == 1 and "b.users (ResyncRequired), c.users (no state)" in m.warnings[0]


def test_one_visible_state_is_enough_to_read_synced_tables():
    m = macros()
    got = m._synced_tenants([tenant("a"), tenant("b")], {"a": "Synced", "b": None}, "users", "zdb")
    assert [t["name"] for t in got] == ["a"] and "b.users (no state)" in m.warnings[0]


def test_no_table_at_all_is_not_a_missing_state():
    tenants = [tenant("a", has_table=False), tenant("b", has_table=False)]
    assert macros()._synced_tenants(tenants, {}, "users", "zdb") == tenants


def test_no_state_visible_stops_naming_the_grant():
    with pytest.raises(CompilerError, match=r"no Zero-ETL table state visible for the 2 users table\(s\) in .*analyst"):
        macros()._synced_tenants([tenant("a"), tenant("b")], {"a": None, "b": None}, "users", "zdb")
