"""A pytest plugin that ``tenant-harness mutate`` loads into each run it starts (``-p
tenant_harness.mutate.pytest_order`` in PYTEST_ADDOPTS); it does nothing when those variables are unset.

TENANT_HARNESS_MUTATE_PLAN     JSON {"durations": {nodeid: s}, "first": [nodeid, ...], "select": [file, ...]
                               or null, "record": bool}: run only the test files in ``select`` (and
                               any file the control did not see, listed in ``known``); the tests in
                               ``first`` (those that killed other mutants of the same file) first,
                               then whole test files from the cheapest to the dearest, each file's
                               tests in their own order (module fixtures stay set up once). With
                               ``record`` (the control run), record what each test file reaches of
                               the dbt project (:mod:`tenant_harness.mutate.reach`). With
                               ``shard`` {"index": i, "count": n, "seconds": {file: s}} (a control
                               split over n processes), run only the test files :func:`deal` gives
                               process i: every process collects the same files and deals them the
                               same way, so each file runs in exactly one of them.
TENANT_HARNESS_MUTATE_RESULT   where to write {"durations": ..., "first_failure": nodeid or null,
                               "modules": [file, ...] (every test file collected), "ran": [file, ...]
                               (those this process ran), "shard": [i, n], "reach": ..., "parse": ...,
                               "spawned": ...}.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import pytest

from . import reach

_durations: dict[str, float] = {}
_first_failure: list[str] = []
_files: dict[str, str] = {}
_plan: dict = {}
_modules: set[str] = set()
_ran: set[str] = set()
_recorder: list[reach.Recorder] = []
_children: list[Path] = []  # where the processes the tests start write their records
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
    if "TENANT_HARNESS_MUTATE_PLAN" in _files:
        _plan.update(json.loads(Path(_files["TENANT_HARNESS_MUTATE_PLAN"]).read_text()))
    project = os.environ.get("TENANT_HARNESS_PROJECT_DIR")
    if _plan.get("record") and project:
        recorder = reach.Recorder(Path(project), reach.project_package(Path(project)))
        recorder.install()
        _recorder.append(recorder)
        # The Python processes the tests start record what they reach too (reach.py); in the
        # session's temporary folder (TMPDIR: next to the copy in a mutation run).
        followed = Path(tempfile.mkdtemp(prefix="tenant-mutate-reach-"))
        _children.append(followed / "records")
        recorder.follow_children(followed / "records", followed / "site")


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items) -> None:
    if not _files.get("TENANT_HARNESS_MUTATE_PLAN"):
        return
    plan = _plan
    _modules.update(_file(it.nodeid) for it in items)
    select = plan.get("select")
    if select is not None:
        wanted, known = set(select), set(plan.get("known") or ())
        keep = [it for it in items if _file(it.nodeid) in wanted or _file(it.nodeid) not in known]
        dropped = [it for it in items if not (_file(it.nodeid) in wanted or _file(it.nodeid) not in known)]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
    shard = plan.get("shard")
    if shard:
        files = {_file(it.nodeid): it.path for it in items}
        mine = set(deal(_estimates(files, shard.get("seconds") or {}), int(shard["count"]))[int(shard["index"])])
        dropped = [it for it in items if _file(it.nodeid) not in mine]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = [it for it in items if _file(it.nodeid) in mine]
    _ran.update(_file(it.nodeid) for it in items)
    durations: dict[str, float] = plan.get("durations") or {}
    cost: dict[str, float] = {}
    for nodeid, seconds in durations.items():
        cost[_file(nodeid)] = cost.get(_file(nodeid), 0.0) + seconds
    first = {nodeid: n for n, nodeid in enumerate(plan.get("first") or [])}
    position = {id(item): n for n, item in enumerate(items)}
    unknown = float("inf")  # a file the control run did not time goes last
    items.sort(key=lambda it: (first.get(it.nodeid, len(first)), cost.get(_file(it.nodeid), unknown), position[id(it)]))


def _estimates(files: dict[str, Path], seconds: dict[str, float]) -> dict[str, float]:
    """Each test file's expected cost: its seconds in an earlier control where known, else its size
    in bytes, scaled by the seconds per byte of the files whose seconds are known."""
    sizes = {}
    for name, path in files.items():
        try:
            sizes[name] = float(Path(path).stat().st_size)
        except OSError:
            sizes[name] = 0.0
    known = [n for n in files if n in seconds]
    known_bytes = sum(sizes[n] for n in known)
    scale = sum(seconds[n] for n in known) / known_bytes if known and known_bytes else 1.0
    return {n: float(seconds[n]) if n in seconds else sizes[n] * scale for n in files}


def deal(costs: dict[str, float], count: int) -> list[list[str]]:
    """The test files dealt out to ``count`` processes, each file to exactly one, balancing their
    total costs: the dearest file first, to the process with the least so far (ties: the lower
    index). Deterministic for the same costs, so processes that collected the same files agree."""
    hands: list[list[str]] = [[] for _ in range(max(1, count))]
    totals = [0.0] * len(hands)
    for name in sorted(costs, key=lambda n: (-costs[n], n)):
        n = min(range(len(hands)), key=lambda i: (totals[i], i))
        hands[n].append(name)
        totals[n] += costs[name]
    return hands


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """What a test file's import reaches belongs to that file."""
    with _reaching(_file(collector.nodeid) if collector.nodeid.endswith(".py") else None):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """What a test, its fixtures (but session- and package-scoped ones) and its teardown reach
    belongs to its file."""
    with _reaching(_file(item.nodeid)):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    """A session- or package-scoped fixture serves every file."""
    with _reaching(reach.GLOBAL if fixturedef.scope in ("session", "package") else None):
        yield


@contextlib.contextmanager
def _reaching(module: str | None):
    if not _recorder or module is None:
        yield
        return
    recorder = _recorder[0]
    saved, recorder.module = recorder.module, module
    if reach.CHILD_MODULE in os.environ:  # what a process started now is tagged with
        os.environ[reach.CHILD_MODULE] = module
    try:
        yield
    finally:
        recorder.module = saved
        if reach.CHILD_MODULE in os.environ:
            os.environ[reach.CHILD_MODULE] = saved


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
        result = {"durations": _durations, "first_failure": _first_failure[0] if _first_failure else None,
                  "modules": sorted(_modules), "ran": sorted(_ran)}  # fmt: skip
        if _plan.get("shard"):
            result["shard"] = [_plan["shard"]["index"], _plan["shard"]["count"]]
        if _recorder:
            result.update(_recorder[0].result(_children[0] if _children else None))
        Path(out).write_text(json.dumps(result))
