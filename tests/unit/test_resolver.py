"""The resolver's vars: the harness's settings merged into a project's own, never replacing them."""

from __future__ import annotations

import pytest
import yaml

from tenant_harness.config import HarnessConfig
from tenant_harness.resolver import dbt_vars
from tenant_harness.runner import _split_vars, merge_vars

pytestmark = [pytest.mark.unit, pytest.mark.local]


def project(tmp_path, vars: dict):
    (tmp_path / "dbt_project.yml").write_text(yaml.safe_dump({"name": "p", "profile": "p", "vars": vars}))
    return tmp_path


def test_a_setting_keeps_the_projects_other_keys(tmp_path):
    own = {"tenant_processing": {"batch_size": 50, "include_tenants": ["acme"], "missing_table": "error"}}
    config = HarnessConfig.build({}, project_dir=project(tmp_path, own), batch_size=1)
    assert dbt_vars(config) == {
        "tenant_processing": {"batch_size": 1, "include_tenants": ["acme"], "missing_table": "error"}
    }


def test_the_automatic_limit_raise_never_lowers_the_projects_limit(tmp_path):
    own = {"tenant_processing": {"max_tenant_limit": 50000, "include_tenants": ["t*"]}}
    config = HarnessConfig.build({}, project_dir=project(tmp_path, own))
    assert dbt_vars(config, tenants=3000) == {}
    low = HarnessConfig.build({}, project_dir=project(tmp_path, {"tenant_processing": {"max_tenant_limit": 2000}}))
    assert dbt_vars(low, tenants=3000) == {"tenant_processing": {"max_tenant_limit": 3000}}


def test_merge_is_deep_and_lists_are_replaced():
    base = {"a": {"b": 1, "c": [1, 2], "d": {"e": 1}}, "x": 1}
    assert merge_vars(base, {"a": {"c": [3], "d": {"f": 2}}}) == {
        "a": {"b": 1, "c": [3], "d": {"e": 1, "f": 2}},
        "x": 1,
    }


def test_vars_given_as_dbt_arguments_are_taken_out_and_merged():
    args, given = _split_vars(["run", "--vars", "{a: {b: 1}}", "-s", "m", "--vars={a: {c: 2}}"])
    assert args == ("run", "-s", "m")
    assert given == {"a": {"b": 1, "c": 2}}
