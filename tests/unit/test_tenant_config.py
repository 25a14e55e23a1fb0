"""tenant_config: the effective `tenant_processing` settings (the project's var over the defaults),
and every bad value stopping the run with an error naming the setting. Run on the macro's own Jinja
source, with var('tenant_processing') answering what each test gives."""

from __future__ import annotations

import pytest

from .jinja_macros import CompilerError, Macros

pytestmark = [pytest.mark.unit, pytest.mark.local]

DEFAULTS = {
    "batch_size": 50, "max_tenant_limit": 2000, "enable_tenant_filter": False, "filtered_tenants": [],
    "include_tenants": [], "exclude_tenants": [], "missing_table": "warn", "unreadable_tenant": "error",
    "unknown_filter_entry": "warn", "max_tenant_drop": 0.2, "parallel_group_size": 1,
}  # fmt: skip
NOTHING = object()


def config(given=NOTHING) -> dict:
    """tenant_config() with var('tenant_processing') set to ``given`` (unset: the var's default)."""

    def var(name, default=None):
        assert name == "tenant_processing"
        return default if given is NOTHING else given

    return Macros("utils/tenant_config.sql", var=var).tenant_config()


def test_the_defaults_when_nothing_is_set():
    assert config() == DEFAULTS
    assert config({}) == DEFAULTS


def test_given_settings_override_the_defaults_one_by_one():
    given = {"batch_size": 7, "enable_tenant_filter": True, "filtered_tenants": ["tenant_a"], "missing_table": "error",
             "max_tenant_drop": 1, "parallel_group_size": 1.0}  # fmt: skip
    assert config(given) == {**DEFAULTS, **given}


@pytest.mark.parametrize("given", [["batch_size", 5], "batch_size: 5", 5])
def test_the_var_must_be_a_mapping(given):
    with pytest.raises(CompilerError, match="var tenant_processing must be a mapping"):
        config(given)


def test_an_unknown_setting_is_named_with_the_known_ones():
    with pytest.raises(CompilerError, match="unknown setting tenant_processing.batchsize") as error:
        config({"batchsize": 10})
    assert ", ".join(sorted(DEFAULTS)) in str(error.value)


@pytest.mark.parametrize("key", ["batch_size", "max_tenant_limit"])
@pytest.mark.parametrize("good", [1, 2, 2.0, 50])
def test_a_count_setting_takes_whole_numbers_from_one(key, good):
    assert config({key: good})[key] == good


@pytest.mark.parametrize("key", ["batch_size", "max_tenant_limit"])
@pytest.mark.parametrize("bad", [0, -1, 0.5, 2.5, "10", True, False, None, [3]])
def test_a_count_setting_rejects_anything_else(key, bad):
    with pytest.raises(CompilerError, match=f"tenant_processing.{key} must be a whole number >= 1"):
        config({key: bad})


@pytest.mark.parametrize("key", ["filtered_tenants", "include_tenants", "exclude_tenants"])
def test_a_tenant_list_setting_takes_lists(key):
    assert config({key: ["tenant_a", "tenant_b*"]})[key] == ["tenant_a", "tenant_b*"]
    assert config({key: ("tenant_a",)})[key] == ("tenant_a",)


@pytest.mark.parametrize("key", ["filtered_tenants", "include_tenants", "exclude_tenants"])
@pytest.mark.parametrize("bad", ["tenant_a", "", 5, None, True])
def test_a_tenant_list_setting_rejects_a_string_or_a_scalar(key, bad):
    with pytest.raises(CompilerError, match=f"tenant_processing.{key} must be a list"):
        config({key: bad})


@pytest.mark.parametrize("good", [0, 0.0, 0.2, 1, 1.0])
def test_max_tenant_drop_takes_a_share_from_0_to_1(good):
    assert config({"max_tenant_drop": good})["max_tenant_drop"] == good


@pytest.mark.parametrize("bad", [-0.01, -1, 1.01, 2, "0.2", True, False, None])
def test_max_tenant_drop_rejects_anything_else(bad):
    with pytest.raises(CompilerError, match="max_tenant_drop must be a share from 0 to 1"):
        config({"max_tenant_drop": bad})


@pytest.mark.parametrize("bad", [0, 2, 4, True, "1", None])
def test_parallel_group_size_other_than_one_is_an_error(bad):
    with pytest.raises(CompilerError, match="parallel_group_size is .*, but batches run one at a time"):
        config({"parallel_group_size": bad})


@pytest.mark.parametrize("key", ["missing_table", "unreadable_tenant", "unknown_filter_entry"])
def test_a_policy_setting_takes_warn_or_error(key):
    assert config({key: "warn"})[key] == "warn"
    assert config({key: "error"})[key] == "error"
    for bad in ("ignore", "Warn", "", None, True):
        with pytest.raises(CompilerError, match=f"tenant_processing.{key} must be 'warn' or 'error'"):
            config({key: bad})
