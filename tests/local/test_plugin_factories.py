"""The plugin's fixture factories: a tenant set and a dbt project of any scope, and the query helper."""

from __future__ import annotations

import pytest

from tenant_harness.plugin import dbt_project_factory, tenant_database_factory
from tenant_harness.runner import DbtProject
from tenant_harness.templates import TemplateFactory, TenantSet

pytestmark = pytest.mark.local

four_tenants = tenant_database_factory(n=4, rows=3, seed=11, scope="module")
four_project = dbt_project_factory(
    "four_tenants", scope="module", vars={"tenant_processing": {"include_tenants": ["tenant_a", "tenant_b"]}}
)
named = tenant_database_factory(TenantSet(tenant_names=("acme", "globex"), rows=2))

_seen: list[str] = []


@pytest.mark.parametrize("round", [1, 2])
def test_a_module_scoped_database_is_shared_across_tests(four_tenants, round):
    _seen.append(four_tenants.name)
    assert len(set(_seen)) == 1
    assert four_tenants.scalar("select count(*) from information_schema.schemata where schema_name like 'tenant%'") == 4


def test_a_module_scoped_project_runs_with_its_vars_merged(four_tenants, four_project):
    four_project.run()
    counts = dict(four_tenants.query("select tenant_id, count(*) from analytics.all_users group by 1"))
    kept = four_tenants.truth.kept_by_tenant
    assert counts == {name: kept[name] for name in ("tenant_a", "tenant_b")}


def test_a_factory_with_named_tenants(named):
    assert sorted(named.truth.kept_by_tenant) == ["acme", "globex"]
    assert named.scalar("select count(*) from acme.users") >= named.truth.kept_by_tenant["acme"] > 0


def test_tenant_query_runs_on_the_tests_database(tenant_database, tenant_query):
    assert tenant_query("select current_database()") == [(tenant_database.name,)]
    schemas = tenant_query("select schema_name from information_schema.schemata where schema_name like %s", ["tenant%"])
    assert sorted(s for (s,) in schemas) == ["tenant_a", "tenant_b", "tenant_c"]


def test_clones_reuse_a_free_name_so_dbt_parses_partially(tenant_server, tmp_path):
    """dbt starts its parse over when the database name changes; the suite's speed rests on
    consecutive clones sharing one name, and on a clone held open never being handed out twice."""
    spec = TenantSet(n=3, rows=2)
    templates = TemplateFactory(tenant_server.endpoint)  # its own: no other test's clone is live in it
    try:
        _check_partial_parsing(templates, spec, tmp_path)
    finally:
        templates.drop_all()


def test_clones_beside_a_held_one_share_a_name(tenant_server):
    """A clone held open (a module- or session-scoped fixture's) must not send every other clone,
    and so dbt, to a new database name: they share the first name free, and the held one's name is
    handed out again once it is dropped."""
    spec = TenantSet(n=3, rows=2)
    templates = TemplateFactory(tenant_server.endpoint)
    try:
        held = templates.clone(spec)
        names = []
        for _ in range(3):
            db = templates.clone(spec)
            names.append(db.name)
            templates.drop(db)
        assert len(set(names)) == 1 and names[0] != held.name, (held.name, names)
        templates.drop(held)
        again = templates.clone(spec)
        assert again.name == held.name
        templates.drop(again)
    finally:
        templates.drop_all()


def _check_partial_parsing(tenant_templates, spec, tmp_path):
    first = tenant_templates.clone(spec)
    held = tenant_templates.clone(spec)
    assert held.name != first.name  # the first is still live: a name of its own
    tenant_templates.drop(held)
    names = [first.name]
    with DbtProject(env=first.dbt_env(), work_dir=tmp_path, quiet=True, artifacts=False) as project:
        project.invoke("ls")
    tenant_templates.drop(first)
    again = tenant_templates.clone(spec)
    names.append(again.name)
    try:
        with DbtProject(env=again.dbt_env(), work_dir=tmp_path, quiet=True, artifacts=False) as project:
            project.invoke("ls")
    finally:
        tenant_templates.drop(again)
    assert names[0] == names[1]
    log = (tmp_path / "logs" / "dbt.log").read_text()
    assert log.count("Unable to do partial parsing") == 1, log  # the first call only: no saved state
    assert "Nothing changed, skipping partial parsing" in log
    assert not list(tmp_path.glob("target/*/manifest.json"))  # artifacts=False: no JSON written
