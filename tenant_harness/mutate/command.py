"""``tenant-harness mutate``: generate, select, run, report. Returns the exit status:
0 score at or above --min-score (or no --min-score), 1 below it, 2 the control failed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from ..errors import HarnessError
from . import equivalents as eq
from . import report
from .changes import changed_lines
from .mutants import Mutant, generate, project_files
from .run import (
    DEFAULT_TEST_COMMAND,
    ControlFailed,
    Runner,
    Workspace,
    command_argv,
    load_seconds,
    project_root,
    run_all,
    save_seconds,
    seconds_file,
)


@dataclass(frozen=True)
class Options:
    project_dir: Path
    paths: tuple[str, ...] = ()
    changed_since: str | None = None
    jobs: int = 1
    test_command: str = DEFAULT_TEST_COMMAND
    timeout: float | None = None
    min_score: float | None = None
    json_file: Path | None = None
    markdown_file: Path | None = None
    equivalents_file: Path | None = None
    list_only: bool = False
    keep: bool = False
    all_tests: bool = False
    process_per_mutant: bool = False
    root: Path | None = None


def select(options: Options, root: Path) -> tuple[list[Mutant], list[Mutant], dict[str, str]]:
    """(all mutants, those to run, sources by file)."""
    project = options.project_dir.resolve()
    files = project_files(project)
    if not files:
        raise HarnessError(f"no macros/**/*.sql or models/**/*.sql under {project}. Hint: --project-dir DIR.")
    sources = {f.relative_to(project).as_posix(): f.read_text() for f in files}
    everything = generate(project, files)
    chosen = everything
    if options.paths:
        wanted = []
        for p in options.paths:
            path = Path(p)
            for base in (Path.cwd(), project):
                if (base / path).exists():
                    wanted.append((base / path).resolve())
                    break
            else:
                raise HarnessError(f"{p}: no such file or folder (looked in {Path.cwd()} and {project})")
        chosen = [
            m for m in chosen if any((project / m.file).resolve().is_relative_to(w) for w in wanted)
        ]  # fmt: skip
    if options.changed_since:
        changed = changed_lines(root, options.changed_since, project)
        prefix = project.relative_to(root).as_posix()
        chosen = [m for m in chosen if _touches(m, sources[m.file], changed.get(_join(prefix, m.file), set()))]
    return everything, chosen, sources


def _join(prefix: str, name: str) -> str:
    return name if prefix in ("", ".") else f"{prefix}/{name}"


def _touches(m: Mutant, source: str, lines: set[int]) -> bool:
    last = m.line + source.count("\n", m.start, max(m.end, m.start))
    return any(n in lines for n in range(m.line, last + 1))


def main(options: Options, console: Console) -> int:
    started = time.perf_counter()
    project = options.project_dir.resolve()
    if not project.is_dir():
        raise HarnessError(f"--project-dir {project}: not a folder")
    root = (options.root or project_root(project)).resolve()
    if not project.is_relative_to(root):
        raise HarnessError(f"the dbt project {project} is not inside the project root {root}")
    reviewed = eq.load(options.equivalents_file or project / eq.DEFAULT_NAME)
    everything, chosen, sources = select(options, root)
    known = {m.id for m in everything}
    stale = tuple(sorted(i for i in reviewed if i not in known))
    if stale:
        console.print(
            f"[yellow]warning:[/] {len(stale)} reviewed equivalent(s) match no mutant any more (the line "
            f"changed; review again): {', '.join(stale)}"
        )
    if options.list_only:
        for m in chosen:
            mark = " (reviewed equivalent)" if m.id in reviewed else ""
            console.print(f"{m.id}  {m.where}:{m.column}  {m.operator:13}  {m.change}{mark}")
        console.print(f"{len(chosen)} mutants ({len(everything)} in the project)")
        return 0
    if not chosen:
        summary = report.Summary([], sources, time.perf_counter() - started, options.jobs, options.test_command,
                                 stale_equivalents=stale)  # fmt: skip
        console.print("no mutant to run (nothing changed in macros/ or models/, or the filter matched nothing)")
        _write(summary, options, console)
        return 0

    argv = command_argv(options.test_command)
    to_run = [m for m in chosen if m.id not in reviewed]
    console.print(
        f"{len(chosen)} mutants ({len(chosen) - len(to_run)} reviewed equivalent) of {len(everything)} in {project}; "
        f"test command: {options.test_command}; --jobs {options.jobs}"
    )
    workspace = Workspace(root, project, keep=options.keep)
    try:
        runner = Runner(workspace, argv, options.timeout, select_tests=not options.all_tests,
                        persistent=not options.process_per_mutant)  # fmt: skip
        console.print("control: the unmutated project with a no-op edit must pass ...")
        try:
            kept = seconds_file(root, options.test_command)
            control = runner.control(to_run[0].file if to_run else chosen[0].file, jobs=options.jobs,
                                     seconds=load_seconds(kept))  # fmt: skip
            save_seconds(kept, runner.durations)
        except ControlFailed as exc:
            console.print(f"[bold red]control failed:[/] {exc}")
            return 2
        if runner.timeout is None:
            # The control's processes' time added up: a survivor may run all of their tests in one.
            runner.timeout = max(120.0, 3 * runner.control_seconds)
        console.print(
            f"control passed in {control.seconds:.1f} s ({control.detail}); timeout per mutant {runner.timeout:.0f} s"
        )
        if runner.reach is not None:
            console.print(
                f"test selection: each mutant runs the test files (of {len(runner.reach['modules'])}) that reached "
                "its macro in the control run (--all-tests: all of them)"
            )

        def progress(o, done, total):
            m = o.mutant
            style = {"killed": "green", "survived": "bold red", "error": "yellow"}.get(o.status, "dim")
            console.print(
                f"[{done}/{total}] [{style}]{o.status:8}[/] {m.where} {m.change}  ({o.seconds:.1f} s"
                + (f", {o.detail}" if o.detail else "")
                + ")"
            )

        outcomes = run_all(runner, chosen, reviewed, jobs=options.jobs, on_outcome=progress)
    finally:
        workspace.close()
    summary = report.Summary(outcomes, sources, time.perf_counter() - started, options.jobs, options.test_command,
                             control=control, stale_equivalents=stale)  # fmt: skip
    if summary.not_killed():
        console.print(report.survivors_table(summary))
    console.print(report.score_line(summary))
    _write(summary, options, console)
    if options.min_score is not None and summary.score is not None and summary.score < options.min_score:
        console.print(f"[bold red]score {summary.score:.1f}% is below --min-score {options.min_score:g}%[/]")
        return 1
    return 0


def _write(summary: report.Summary, options: Options, console: Console) -> None:
    if options.json_file:
        report.write_json(summary, options.json_file)
        console.print(f"wrote {options.json_file}")
    if options.markdown_file:
        options.markdown_file.write_text(report.to_markdown(summary))
        console.print(f"wrote {options.markdown_file}")
