"""A non-editable install: the wheel carries the dbt project and the verification SQL, and
`tenant-harness demo` runs from it, away from any checkout. ``pytest -m install``: pip builds the
wheel in an isolated build environment and the demo is a process with dbt's start-up and full parse,
minutes on a busy machine, so it is not part of ``pytest -m local``; CI runs it after that suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.install

ROOT = Path(__file__).resolve().parents[2]
# Never copied into the build: what tools, runs and virtualenvs leave in a checkout.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
    ".tenant-harness", "target", "logs", "dbt_packages", "package-lock.yml", "bench",
)  # fmt: skip


def run(*cmd, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert done.returncode == 0, f"{cmd}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_wheel_install_runs_demo_with_its_bundled_project(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", source)
    (wheel,) = (tmp_path / "dist").glob("tenant_harness-*.whl")

    # A fresh virtualenv holding only the wheel; its dependencies are borrowed from this environment
    # through a .pth line (which, unlike a site dir, does not run this environment's editable hooks).
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip())
    (site / "borrowed.pth").write_text(f"{sysconfig.get_path('purelib')}\n{sysconfig.get_path('platlib')}\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel)
    shutil.rmtree(source)  # nothing may come from the copy it was built from

    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANT_HARNESS_") and k != "PYTHONPATH"}
    where = run(python, "-c", "import tenant_harness.assets as a; print(a.PROJECT_DIR); print(a.SQL_DIR)",
                cwd=tmp_path, env=env).stdout.split()  # fmt: skip
    assert all(Path(p).is_relative_to(site / "tenant_harness" / "_bundled") for p in where), where

    demo = run(venv / "bin" / "tenant-harness", "demo", cwd=tmp_path, env=env)
    assert "counts_match_truth" in demo.stdout and "pass" in demo.stdout, demo.stdout
