"""The mutation check's mutants still apply to the current macros: a stale mutant would make
bench/mutation_check.py stop instead of testing the suite, and nobody would notice until then."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.unit, pytest.mark.local]

ROOT = Path(__file__).resolve().parents[2]


def _mutation_check():
    spec = importlib.util.spec_from_file_location("mutation_check", ROOT / "bench" / "mutation_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_every_mutant_applies_to_a_copy_of_the_project(tmp_path):
    check = _mutation_check()
    for mutant in check.MUTANTS:
        project = check.copy_project(ROOT / "dbt", tmp_path / mutant.name)
        check.apply(mutant, project)  # raises MutantError when its text is gone or ambiguous
