"""Mutation testing of a dbt project's macros and models: would the project's tests notice a wrong
macro?

``mutants``     generates single-edit mutants from the Jinja + SQL source (pure, no database)
``equivalents`` the reviewed list of known equivalent mutants, matched by stable mutant id
``workspace``   isolated copies of the project to run the tests on
``run``         runs the test command on each mutant, in parallel, and classifies the outcome
``report``      the score, the survivors table, JSON and Markdown for CI
``pytest_order`` a pytest plugin loaded into each run: fast tests first, durations, first failure

``tenant-harness mutate`` (cli.py) ties them together; docs/mutate.md is the manual.
"""

from .mutants import Mutant, generate, generate_file

__all__ = ["Mutant", "generate", "generate_file"]
