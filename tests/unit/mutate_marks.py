"""The marks of the mutation tool's own tests: unit tests, part of the local suite, and skipped inside a
mutation run (they test the tool, not the macros a mutant changes)."""

import os

import pytest

MUTATE_TOOL_MARKS = [
    pytest.mark.unit,
    pytest.mark.local,
    pytest.mark.skipif(
        bool(os.environ.get("TENANT_HARNESS_MUTATE_RUN")),
        reason="inside a mutation run: the mutation tool's own tests do not test the macros",
    ),
]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    """The seconds a control keeps for the next one (run.seconds_file) go to a folder of the test's
    own, not the user's cache (and not tmp_path, whose files some tests compare)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
