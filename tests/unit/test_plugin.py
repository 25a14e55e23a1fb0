"""The pytest plugin's collection rules, in a throwaway pytest run (pytester)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.unit, pytest.mark.local]
pytest_plugins = ["pytester"]


def test_redshift_tests_are_skipped_naming_the_missing_settings(pytester, monkeypatch):
    for name in ("TENANT_HARNESS_REDSHIFT_HOST", "TENANT_HARNESS_REDSHIFT_USER", "DBT_ENV_SECRET_REDSHIFT_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini("[pytest]\ntenant_harness_skip_unavailable = true\n")
    pytester.makepyfile("import pytest\n@pytest.mark.redshift\ndef test_x():\n    assert False\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*TENANT_HARNESS_REDSHIFT_HOST*DBT_ENV_SECRET_REDSHIFT_PASSWORD*"])


def test_docker_backend_skips_local_suites_with_the_reason_when_no_engine(pytester):
    from tenant_harness.server import DockerServer

    if DockerServer.unavailable_reason() is None:
        pytest.skip("a Docker engine answers here; the skip path cannot be shown")
    pytester.makeini("[pytest]\ntenant_harness_skip_unavailable = true\n")
    pytester.makepyfile("import pytest\n@pytest.mark.local\ndef test_x(tenant_server):\n    assert False\n")
    result = pytester.runpytest("-rs", "--tenant-backend", "docker")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*Docker backend: *"])
