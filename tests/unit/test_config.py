"""Configuration precedence and errors."""

from __future__ import annotations

import pytest

from tenant_harness.config import HarnessConfig
from tenant_harness.errors import ConfigError

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
