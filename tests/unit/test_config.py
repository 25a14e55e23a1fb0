"""Configuration precedence and errors."""

from __future__ import annotations

import pytest

from tenant_harness.config import HarnessConfig
from tenant_harness.errors import ConfigError
from tenant_harness.verify import ModelSpec

pytestmark = [pytest.mark.unit, pytest.mark.local]


def test_argument_beats_environment_beats_default():
    env = {"TENANT_HARNESS_TENANTS": "50", "TENANT_HARNESS_ROWS": "7"}
    config = HarnessConfig.build(env, tenants=9)
    assert (config.tenants, config.rows, config.seed) == (9, 7, 42)


def test_bad_values_name_the_value_and_the_variable():
    with pytest.raises(ConfigError, match="'many'.*TENANT_HARNESS_TENANTS"):
        HarnessConfig.build({"TENANT_HARNESS_TENANTS": "many"})
    with pytest.raises(ConfigError, match="batch_size must be >= 1, got 0"):
        HarnessConfig.build({}, batch_size=0)


def test_dbt_vars_raise_the_safety_limit_for_big_tenant_sets():
    assert HarnessConfig.build({}).dbt_vars() == {}
    assert HarnessConfig.build({}, tenants=10000, batch_size=100).dbt_vars() == {
        "tenant_processing": {"batch_size": 100, "max_tenant_limit": 10000}
    }


def test_password_is_masked():
    config = HarnessConfig.build({"TENANT_HARNESS_DSN": "postgresql://u:s3cret@h:5432/d"})
    assert "s3cret" not in str(config.redacted())


def test_models_to_verify_from_the_file(tmp_path):
    toml = tmp_path / "tenant-harness.toml"
    toml.write_text('[[harness.models]]\nmodel = "all_orders"\nsource_table = "orders"\nkey = ["order_id", "line"]\n')
    config = HarnessConfig.build({}, config_file=toml)
    assert config.models == (ModelSpec("all_orders", "orders", ("order_id", "line"), "tenant_id"),)
    toml.write_text('[[harness.models]]\nmodel = "all_orders"\nkeys = ["order_id"]\n')
    with pytest.raises(ConfigError, match="model 'all_orders' to verify: unknown key.s. keys. Hint: known keys"):
        HarnessConfig.build({}, config_file=toml)
    toml.write_text('[[harness.models]]\nsource_table = "orders"\n')
    with pytest.raises(ConfigError, match="a model to verify needs at least a model name"):
        HarnessConfig.build({}, config_file=toml)
