"""A pytest plugin that ``tenant-harness mutate`` loads into each run it starts (``-p
tenant_harness.mutate.pytest_order`` in PYTEST_ADDOPTS); it does nothing when those variables are unset.

TENANT_HARNESS_MUTATE_PLAN     JSON {"durations": {nodeid: s}, "first": [nodeid, ...]}: run the tests
                               in ``first`` (those that killed other mutants of the same file) first,
                               then whole test files from the cheapest to the dearest, each file's
                               tests in their own order (module fixtures stay set up once).
TENANT_HARNESS_MUTATE_RESULT   where to write {"durations": ..., "first_failure": nodeid or null}.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

_durations: dict[str, float] = {}
_first_failure: list[str] = []
_files: dict[str, str] = {}
OPTION = "-p tenant_harness.mutate.pytest_order"


def pytest_configure(config) -> None:
    """Take the plan and result paths out of the environment, and this plugin out of PYTEST_ADDOPTS:
    pytest runs that the tests start themselves are not the mutant's run."""
    for key in ("TENANT_HARNESS_MUTATE_PLAN", "TENANT_HARNESS_MUTATE_RESULT"):
        value = os.environ.pop(key, None)
        if value:
            _files[key] = value
    addopts = os.environ.get("PYTEST_ADDOPTS")
    if addopts and OPTION in addopts:
        os.environ["PYTEST_ADDOPTS"] = addopts.replace(OPTION, "").strip()


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items) -> None:
    plan_file = _files.get("TENANT_HARNESS_MUTATE_PLAN")
    if not plan_file:
        return
    plan = json.loads(Path(plan_file).read_text())
    durations: dict[str, float] = plan.get("durations") or {}
    cost: dict[str, float] = {}
    for nodeid, seconds in durations.items():
        cost[_file(nodeid)] = cost.get(_file(nodeid), 0.0) + seconds
    first = {nodeid: n for n, nodeid in enumerate(plan.get("first") or [])}
    position = {id(item): n for n, item in enumerate(items)}
    unknown = float("inf")  # a file the control run did not time goes last
    items.sort(key=lambda it: (first.get(it.nodeid, len(first)), cost.get(_file(it.nodeid), unknown), position[id(it)]))


def pytest_collectreport(report) -> None:
    if report.failed and not _first_failure:
        _first_failure.append(f"collection error: {report.nodeid or '(session)'}")


def pytest_runtest_logreport(report) -> None:
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration
    if report.failed and not _first_failure:
        _first_failure.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus) -> None:
    out = _files.get("TENANT_HARNESS_MUTATE_RESULT")
    if out:
        result = {"durations": _durations, "first_failure": _first_failure[0] if _first_failure else None}
        Path(out).write_text(json.dumps(result))
