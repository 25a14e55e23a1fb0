"""Mutation check: does the local suite catch wrong tenant macros?

    python bench/mutation_check.py [--only NAME ...] [--keep] [--timeout SECONDS] [--list]

For each mutant, dbt/ is copied to a temporary folder, ONE deliberate bug is put into a copied
macro (or model) by an exact text replacement, and the all_users suites run against the copy
(TENANT_HARNESS_PROJECT_DIR points every DbtProject, the pytest plugin and
tests/unit/jinja_macros.py at it). A mutant is *caught* when pytest exits 1 (tests failed); exit 0
means it SURVIVED; any other exit code (collection or usage error, interrupted) or a timeout is an
*error*, never counted as caught.

An unmutated copy runs first (the control): if it does not pass, nothing is measured, because a
check whose control fails proves nothing. Each replacement's original text must occur exactly once
in the current source, so a mutant gone stale after a macro edit fails loudly instead of silently
testing the unchanged project.

Exit status: 0 every mutant caught; 1 a mutant survived or errored; 2 the control failed or a
mutant could not be applied. Temporary copies (and the pytest logs inside them) are removed unless
--keep.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
DBT_DIR = ROOT / "dbt"

# The suites that concern all_users' correctness, in this order (cheap unit tests first; -x stops
# at the first failure). Only those that exist are run.
SUITES = (
    "tests/unit",
    "tests/local/test_all_users.py",
    "tests/local/test_tenant_union.py",
    "tests/local/test_verification_power.py",
)
PYTEST_ARGS = ("-m", "local", "-x", "-q", "-p", "no:cacheprovider")
IGNORE = shutil.ignore_patterns("target", "logs", "dbt_packages")

PYTEST_EXIT = {
    0: "passed",
    1: "tests failed",
    2: "interrupted",
    3: "internal error",
    4: "usage error",
    5: "no tests collected",
}


@dataclass(frozen=True)
class Site:
    file: str  # relative to the dbt project
    old: str
    new: str


@dataclass(frozen=True)
class Mutant:
    """One bug. `sites` lists where its text may live (the same code before and after a refactor
    moved it); across all of them the original text must occur exactly once."""

    name: str
    what: str
    sites: tuple[Site, ...]

    @property
    def files(self) -> str:
        return " or ".join(f"dbt/{s.file}" for s in self.sites)


def _mutant(name: str, what: str, *sites: tuple[str, str, str]) -> Mutant:
    return Mutant(name, what, tuple(Site(*s) for s in sites))


TENANT_ID = '{{%- set literal = "\'" ~ {}.replace("\'", "\'\'") ~ "\'" -%}}'

MUTANTS = (
    _mutant(
        "drop-last-batch",
        "the materialization skips the last batch when there is more than one",
        (
            "macros/materializations/tenant_union.sql",
            "{%- for batch in batches -%}",
            "{%- for batch in (batches[:-1] if batches | length > 1 else batches) -%}",
        ),
    ),
    _mutant(
        "duplicate-tenant",
        "render_tenant_union renders the first tenant of every batch twice",
        (
            "macros/union/union_tenant_tables.sql",
            "{%- do parts.append(branch) -%}",
            "{%- do parts.append(branch) -%}{%- if loop.first -%}{%- do parts.append(branch) -%}{%- endif -%}",
        ),
    ),
    _mutant(
        "lose-tenant-id",
        "every row gets the first tenant's name as tenant_id",
        (
            "macros/union/union_tenant_tables.sql",
            TENANT_ID.format("t.name"),
            TENANT_ID.format("plan.tenants[0].name"),
        ),
    ),
    _mutant(
        "ignore-exclude-filter",
        "tenant_processing.exclude_tenants is never applied",
        (
            "macros/discovery/get_filtered_tenant_schemas.sql",
            "{%- if cfg.exclude_tenants | length > 0 -%}",
            "{%- if false and cfg.exclude_tenants | length > 0 -%}",
        ),
    ),
    _mutant(
        "like-wildcard",
        "_glob_to_like stops escaping `_`: `tenant_*` becomes `tenant_%`, which matches `tenantx1`",
        (
            "macros/utils/_sql_text.sql",
            "{%- elif ch in ['%', '_', escape] -%}",
            "{%- elif ch in ['%', escape] -%}",
        ),
    ),
    # The cleaning lived in models/marts/all_users.sql and moved to the clean_users macro (shared
    # with zero_etl_all_users); whichever of the two layouts the copy has is mutated.
    _mutant(
        "no-cleaning",
        "all_users stops lower-casing email",
        ("models/marts/all_users.sql", "lower(trim(unioned.email))", "trim(unioned.email)"),
        (
            "macros/models/clean_users.sql",
            "lower(trim({{ source }}.email))",
            "trim({{ source }}.email)",
        ),
    ),
    _mutant(
        "no-invalid-row-filter",
        "all_users keeps rows with a null email",
        (
            "models/marts/all_users.sql",
            "    unioned.user_id is not null\n    and unioned.email is not null",
            "    unioned.user_id is not null",
        ),
        (
            "macros/models/clean_users.sql",
            "    {{ source }}.user_id is not null\n    and {{ source }}.email is not null",
            "    {{ source }}.user_id is not null",
        ),
    ),
    _mutant(
        "first-type-wins",
        "type widening returns the left (first-seen) type instead of the wider one",
        (
            "macros/union/widen_type.sql",
            "{{ return(family[[family.index(l), family.index(r)] | max]) }}",
            "{{ return(left) }}",
        ),
    ),
)


@dataclass
class Outcome:
    name: str
    status: str  # passed (control only) / caught / SURVIVED / error
    first_failure: str
    seconds: float
    summary: str
    log: Path


class MutantError(Exception):
    """A mutant that cannot be applied to the current source (stale replacement text)."""


def copy_project(source: Path, dest: Path) -> Path:
    project = dest / "dbt"
    shutil.copytree(source, project, ignore=IGNORE)
    return project


def apply(mutant: Mutant, project: Path) -> None:
    counts = {}
    for site in mutant.sites:
        path = project / site.file
        counts[site] = path.read_text().count(site.old) if path.exists() else 0
    if sum(counts.values()) != 1:
        where = "; ".join(
            f"{n} in dbt/{s.file}" + ("" if (project / s.file).exists() else " (no such file)")
            for s, n in counts.items()
        )
        texts = "\n".join(f"  text: {s.old!r}" for s in mutant.sites)
        raise MutantError(
            f"mutant {mutant.name}: its original text must occur exactly once, found {where}; "
            f"the source changed, update the mutant.\n{texts}"
        )
    site = next(s for s, n in counts.items() if n == 1)
    path = project / site.file
    source = path.read_text()
    mutated = source.replace(site.old, site.new)
    assert mutated != source
    path.write_text(mutated)


def suites() -> list[str]:
    present = [s for s in SUITES if (ROOT / s).exists()]
    if not any(s.startswith("tests/local/") for s in present):
        raise SystemExit(f"none of the local suites exist under {ROOT}: {SUITES}")
    return present


def run_suite(name: str, project: Path, work: Path, files: list[str], timeout: float) -> Outcome:
    """pytest on `files` with the dbt project at `project`, in its own process group."""
    log = work / f"{name}.log"
    env = {
        **os.environ,
        "TENANT_HARNESS_PROJECT_DIR": str(project),
        # Hypothesis' example database in the copy: a mutant's failing examples must not be
        # replayed into the shared .hypothesis/ of the checkout.
        "HYPOTHESIS_STORAGE_DIRECTORY": str(work / "hypothesis"),
    }
    cmd = [sys.executable, "-m", "pytest", *PYTEST_ARGS, *files]
    started = time.perf_counter()
    with log.open("w") as out:
        out.write(f"$ TENANT_HARNESS_PROJECT_DIR={project} {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            if proc.poll() is None:  # timeout or Ctrl-C: stop pytest and what it started
                _kill_group(proc)
    seconds = time.perf_counter() - started
    text = log.read_text(errors="replace")
    first = _first_failure(text)
    summary = _summary(text)
    if rc is None:
        status, first = "error", f"timeout after {timeout:.0f} s"
    elif rc == 0:
        status = "SURVIVED"
    elif rc == 1:
        status = "caught"
    else:
        status = "error"
        first = f"pytest exit {rc} ({PYTEST_EXIT.get(rc, 'unknown')})" + (f": {first}" if first else "")
    return Outcome(name, status, first or "?", seconds, summary, log)


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _first_failure(text: str) -> str:
    """The first `FAILED <nodeid>` of pytest's short summary, else the first `ERROR <nodeid>`."""
    for kind in ("FAILED", "ERROR"):
        m = re.search(rf"^{kind} (\S+)", text, re.MULTILINE)
        if m:
            return m.group(1) if kind == "FAILED" else f"ERROR {m.group(1)}"
    return ""


def _summary(text: str) -> str:
    lines = [ln.strip("= ") for ln in text.splitlines() if re.search(r"\b(passed|failed|error|no tests ran)\b", ln)]
    return lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> int:
    names = [m.name for m in MUTANTS]
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"run only this mutant (repeatable): {', '.join(names)}",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies and pytest logs")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per pytest run (default 900)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    console = Console()

    if args.list:
        for m in MUTANTS:
            console.print(f"[bold]{m.name}[/]: {m.what} ({m.files})")
        return 0

    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    files = suites()
    root = Path(tempfile.mkdtemp(prefix="tenant-mutation-check-"))
    console.print(f"suites: {' '.join(files)}\ncopies: {root}")
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    try:
        # One snapshot of dbt/ that the control and every mutant are copied from: files edited
        # in the checkout meanwhile cannot make them test different sources.
        snapshot = copy_project(DBT_DIR, root / "snapshot")
        # Apply every mutant before running anything: a stale one stops the check in seconds.
        projects = {}
        for m in chosen:
            work = root / m.name
            work.mkdir()
            projects[m.name] = (copy_project(snapshot, work), work)
            apply(m, projects[m.name][0])

        control_dir = root / "control"
        control_dir.mkdir()
        console.print("control (unmutated copy) ...")
        control_project = copy_project(snapshot, control_dir)
        control = run_suite("control", control_project, control_dir, files, args.timeout)
        control_ok = control.status == "SURVIVED"  # i.e. pytest exit 0
        control.status = "passed" if control_ok else "FAILED"
        console.print(f"  control: {control.status} in {control.seconds:.1f} s ({control.summary})")
        if not control_ok:
            console.print(
                f"[red]The control run did not pass ({control.first_failure}); a mutation check "
                f"on a failing suite proves nothing. Log:[/] {control.log}"
            )
            console.print(_tail(control.log))
            args.keep = True
            return 2

        for m in chosen:
            project, work = projects[m.name]
            console.print(f"{m.name} ...")
            outcome = run_suite(m.name, project, work, files, args.timeout)
            outcomes.append(outcome)
            console.print(f"  {outcome.status} in {outcome.seconds:.1f} s ({outcome.summary})")
    except MutantError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    finally:
        if args.keep:
            console.print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    table = Table(title="Mutation check")
    table.add_column("mutant")
    table.add_column("status")
    table.add_column("first failing test")
    table.add_column("seconds", justify="right")
    table.add_row("(control)", f"[green]{control.status}[/]", control.summary, f"{control.seconds:.1f}")
    style = {"caught": "green", "SURVIVED": "bold red", "error": "yellow"}
    for o in outcomes:
        table.add_row(o.name, f"[{style[o.status]}]{o.status}[/]", o.first_failure, f"{o.seconds:.1f}")
    console.print(table)
    bad = [o for o in outcomes if o.status != "caught"]
    total = time.perf_counter() - started
    console.print(f"{len(outcomes) - len(bad)}/{len(outcomes)} mutants caught; total {total:.1f} s")
    if bad:
        console.print(f"[bold red]not caught: {', '.join(f'{o.name} ({o.status})' for o in bad)}[/]")
    return 1 if bad else 0


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


if __name__ == "__main__":
    sys.exit(main())
