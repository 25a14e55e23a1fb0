"""The verifier's statement of the tenant selection: filter entries name schemas exactly."""

from __future__ import annotations

from tenant_harness.selection import Selection

SCHEMAS = {"org_3": True, "Org_3": True, "org_4": True, "ORG_5": False}


def select(**processing) -> list[str]:
    return Selection.from_vars({"tenant_schema_pattern": "org_*", "tenant_processing": processing}).select(SCHEMAS)


def test_the_pattern_is_case_insensitive_and_the_filters_are_exact():
    assert select() == ["Org_3", "org_3", "org_4"]  # ORG_5 has no table
    assert select(include_tenants=["org_3"]) == ["org_3"]
    assert select(include_tenants=["Org_*"]) == ["Org_3"]
    assert select(exclude_tenants=["org_3"]) == ["Org_3", "org_4"]
    assert select(enable_tenant_filter=True, filtered_tenants=["Org_3"]) == ["Org_3"]


def test_only_a_lower_case_pg_prefix_is_reserved_as_in_the_macros():
    """PostgreSQL reserves pg_ in lower case: "PG_Tenant" is a schema like any other, and a tenant
    for the pattern *, as get_tenant_schemas finds it."""
    schemas = {"pg_toast": True, "PG_Tenant": True, "information_schema": True, "acme": True}
    assert Selection.from_vars({"tenant_schema_pattern": "*"}).select(schemas) == ["PG_Tenant", "acme"]
