"""The pytest plugin's collection rules, in a throwaway pytest run (pytester)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.unit, pytest.mark.local]
pytest_plugins = ["pytester"]


def test_redshift_tests_are_skipped_naming_the_missing_settings(pytester, monkeypatch):
    for name in ("TENANT_HARNESS_REDSHIFT_HOST", "TENANT_HARNESS_REDSHIFT_USER", "DBT_ENV_SECRET_REDSHIFT_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini("[pytest]\nmarkers =\n    redshift: x\n")
    pytester.makepyfile("import pytest\n@pytest.mark.redshift\ndef test_x():\n    assert False\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*TENANT_HARNESS_REDSHIFT_HOST*DBT_ENV_SECRET_REDSHIFT_PASSWORD*"])
