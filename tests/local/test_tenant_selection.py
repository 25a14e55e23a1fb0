"""Tenant selection for real SaaS naming: several patterns, a registry table, system and harness
schemas never tenants, include entries naming no tenant warn (or stop, by config)."""

from __future__ import annotations

import re

import psycopg
import pytest

from tenant_harness.errors import DbtRunError

pytestmark = pytest.mark.local

NAMES = ("acme", "globex", "initech", "Umbrella Corp", "cust_0042", "staging")


def built_tenants(db, project, **vars) -> list[str]:
    result = project.run("all_users", vars=vars)
    project.last_warnings = result.warnings
    return sorted((r[0] for r in query(db, "select distinct tenant_id from analytics.all_users")), key=str.encode)


def query(db, sql: str) -> list[tuple]:
    with psycopg.connect(db.conninfo) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


@pytest.mark.tenants(tenant_names=NAMES, rows=3)
def test_a_list_of_patterns_selects_tenants_without_a_common_prefix(tenant_database, dbt_project):
    got = built_tenants(tenant_database, dbt_project, tenant_schema_pattern=["acme", "globex", "umbrella*", "cust_*"])
    assert got == ["Umbrella Corp", "acme", "cust_0042", "globex"]
    with pytest.raises(DbtRunError, match="tenant_schema_pattern must be a glob or a non-empty list"):
        dbt_project.run("all_users", vars={"tenant_schema_pattern": []})


@pytest.mark.tenants(tenant_names=NAMES, rows=3)
def test_star_never_selects_system_target_or_harness_schemas(tenant_database, dbt_project):
    # public holds a users table too (noise, like staging): excluded by name, the way a team would.
    query(tenant_database, "create table public.users (like acme.users)")
    select = {"tenant_schema_pattern": "*", "tenant_processing": {"exclude_tenants": ["staging", "public"]}}
    built_tenants(tenant_database, dbt_project, **select)  # the target schema now exists and holds tables
    got = built_tenants(tenant_database, dbt_project, **select)
    assert got == sorted(set(NAMES) - {"staging"}, key=str.encode)
    # Every other schema here lacks a users table: had one counted as a tenant (pg_catalog, pg_toast,
    # information_schema, the target schema analytics, harness_truth), it would be warned about.
    assert [w for w in dbt_project.last_warnings if "have no table users" in w] == []


@pytest.mark.tenants(tenant_names=NAMES, rows=3)
def test_tenants_from_a_registry_table(tenant_database, dbt_project):
    query(tenant_database, "create table public.customers (schema_name text, active boolean)")
    query(
        tenant_database,
        "insert into public.customers values ('acme', true), ('globex', true), ('Umbrella Corp', true), "
        "('cust_0042', true), ('initech', false), ('hooli', true), (null, true)",
    )
    registry = {"relation": "public.customers", "column": "schema_name", "where": "active"}
    got = built_tenants(tenant_database, dbt_project, tenant_registry=registry)
    assert got == ["Umbrella Corp", "acme", "cust_0042", "globex"]  # not initech (inactive), not staging
    # hooli is listed but has no schema (offboarded): a warning naming it, or an error by config.
    assert any("hooli" in w and "no schema" in w for w in dbt_project.last_warnings)
    with pytest.raises(DbtRunError, match="lists 1 tenant\\(s\\) with no schema: hooli"):
        dbt_project.run("all_users", vars={"tenant_registry": registry,
                                           "tenant_processing": {"unknown_filter_entry": "error"}})  # fmt: skip
    with pytest.raises(DbtRunError, match="tenant_registry must be a mapping with relation and column"):
        dbt_project.run("all_users", vars={"tenant_registry": {"relation": "public.customers"}})


@pytest.mark.tenants(n=5, rows=2)
def test_one_include_or_exclude_entry_applies_and_the_limit_itself_builds(tenant_database, dbt_project):
    names = sorted(tenant_database.truth.names)

    def tenants_for(processing):
        # Each filter change is deliberate: the guard against vanishing tenants is switched off.
        return built_tenants(tenant_database, dbt_project, tenant_processing={"max_tenant_drop": 1, **processing})

    assert tenants_for({"include_tenants": [names[1]]}) == [names[1]]
    assert tenants_for({"exclude_tenants": [names[0]]}) == names[1:]
    # An exclude entry that matches nothing changes nothing, even where unknown include entries stop.
    assert tenants_for({"exclude_tenants": ["tenant_gone"], "unknown_filter_entry": "error"}) == names
    # max_tenant_limit is the largest tenant count allowed, not the first refused.
    assert tenants_for({"max_tenant_limit": len(names)}) == names


@pytest.mark.tenants(n=3, rows=2)
def test_a_skip_warning_names_ten_tenants_then_marks_the_rest(tenant_database, dbt_project):
    empty = [f"tenant_empty{i:02}" for i in range(11)]
    query(tenant_database, "; ".join(f"create schema {name}" for name in empty[:10]))
    built_tenants(tenant_database, dbt_project)
    assert f"have no table users: {', '.join(empty[:10])} (skipped" in "\n".join(dbt_project.last_warnings)
    query(tenant_database, f"create schema {empty[10]}")
    got = built_tenants(tenant_database, dbt_project)
    assert got == sorted(tenant_database.truth.names)
    assert f"have no table users: {', '.join(empty[:10])} ... (skipped" in "\n".join(dbt_project.last_warnings)


@pytest.mark.tenants(n=3, rows=2)
def test_tenants_whose_table_is_a_materialized_view_or_a_foreign_table_are_read(tenant_database, dbt_project):
    source = sorted(tenant_database.truth.names)[0]
    columns = query(
        tenant_database,
        "select string_agg(quote_ident(attname) || ' ' || format_type(atttypid, atttypmod), ', ' order by attnum) "
        f"from pg_attribute where attrelid = '{source}.users'::regclass and attnum > 0 and not attisdropped",
    )[0][0]
    query(
        tenant_database,
        f"create schema tenant_mv; create materialized view tenant_mv.users as select * from {source}.users",
    )
    # A foreign table (file_fdw) over the source tenant's rows, in a file in the server's data directory.
    path = query(tenant_database, "show data_directory")[0][0] + f"/tenant_ft_users_{tenant_database.name}.csv"
    query(
        tenant_database,
        f"copy (select * from {source}.users) to '{path}' with (format csv); "
        "create extension if not exists file_fdw; create server tenant_files foreign data wrapper file_fdw; "
        f"create schema tenant_ft; create foreign table tenant_ft.users ({columns}) server tenant_files "
        f"options (filename '{path}', format 'csv')",
    )
    assert built_tenants(tenant_database, dbt_project) == sorted(
        [*tenant_database.truth.names, "tenant_ft", "tenant_mv"]
    )
    counts = dict(query(tenant_database, "select tenant_id, count(*) from analytics.all_users group by 1"))
    assert counts["tenant_mv"] == counts["tenant_ft"] == tenant_database.truth.kept_by_tenant[source]


CASE_NAMES = ("org_3", "Org_3", "org_4")


@pytest.mark.tenants(tenant_names=CASE_NAMES, rows=3)
def test_filter_entries_name_schemas_exactly_as_postgresql_spells_them(tenant_database, dbt_project):
    """org_3 and "Org_3" are two schemas: an entry for one never reads the other, and an entry that
    matches no schema but one differing only by case stops the run instead of guessing."""
    kept = tenant_database.truth.kept_by_tenant

    def built(processing):
        # Each filter change is deliberate: the guard against vanishing tenants is switched off.
        got = built_tenants(tenant_database, dbt_project, tenant_schema_pattern="org_*",
                            tenant_processing={"max_tenant_drop": 1, **processing})  # fmt: skip
        counts = dict(query(tenant_database, "select tenant_id, count(*) from analytics.all_users group by 1"))
        assert counts == {t: kept[t] for t in got}
        return got

    # The pattern is case-insensitive: it finds both spellings, each read from its own schema.
    assert built({}) == ["Org_3", "org_3", "org_4"]
    assert built({"include_tenants": ["org_3"]}) == ["org_3"]
    assert built({"include_tenants": ["Org_3"]}) == ["Org_3"]
    assert built({"include_tenants": ["org_*"]}) == ["org_3", "org_4"]
    assert built({"exclude_tenants": ["org_3"]}) == ["Org_3", "org_4"]
    assert built({"enable_tenant_filter": True, "filtered_tenants": ["Org_3", "org_4"]}) == ["Org_3", "org_4"]
    for setting, entry in [("include_tenants", "ORG_3"), ("exclude_tenants", "Org_4"), ("filtered_tenants", "ORG_*")]:
        with pytest.raises(DbtRunError, match=rf"tenant_processing.{setting} entry '{re.escape(entry)}' matches no "
                                              rf"tenant; .* differ(s)? from it only by case"):  # fmt: skip
            built({setting: [entry], "enable_tenant_filter": setting == "filtered_tenants"})
