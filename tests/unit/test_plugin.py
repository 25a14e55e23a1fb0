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


def test_plugin_imposes_no_policy_without_opt_in(pytester, monkeypatch):
    """Installed in another project: its markers are registered (strict markers pass), a `redshift`
    test runs (and here fails) instead of being skipped, and no Hypothesis profile is loaded."""
    monkeypatch.delenv("TENANT_HARNESS_REDSHIFT_HOST", raising=False)
    # Hypothesis itself picks its built-in "ci" profile when CI is set (as in .ci/run).
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("HYPOTHESIS_PROFILE", raising=False)
    pytester.makeini("[pytest]\naddopts = --strict-markers\n")
    pytester.makepyfile(
        "import pytest\n"
        "from hypothesis import settings\n"
        "@pytest.mark.redshift\n@pytest.mark.local\n@pytest.mark.scale\n@pytest.mark.tenants(n=4)\n"
        "def test_x():\n    assert False\n"
        "def test_profile():\n    assert settings._current_profile == 'default'\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=1)


def test_only_marked_tests_are_skipped_whatever_the_folders_are_called(pytester, monkeypatch):
    """Folder and file names are keywords too: a project in a folder named `redshift` had every test
    skipped (and a green run that ran nothing) when the Redshift settings were missing."""
    for name in ("TENANT_HARNESS_REDSHIFT_HOST", "TENANT_HARNESS_REDSHIFT_USER", "DBT_ENV_SECRET_REDSHIFT_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini("[pytest]\ntenant_harness_skip_unavailable = true\n")
    folder = pytester.mkpydir("redshift")
    (folder / "test_redshift_named.py").write_text(
        "import pytest\n@pytest.mark.redshift\ndef test_on_redshift():\n    assert False\n"
        "def test_plain():\n    assert True\n"
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
