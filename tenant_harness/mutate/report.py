"""The mutation score, the survivors table (rich), and JSON / Markdown for CI."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from .run import Outcome


@dataclass
class Summary:
    outcomes: list[Outcome]
    sources: dict[str, str]  # file -> text the mutants were made from (for diffs)
    seconds: float
    jobs: int
    test_command: str
    control: Outcome | None = None
    stale_equivalents: tuple[str, ...] = ()

    @property
    def counts(self) -> Counter:
        return Counter(o.status for o in self.outcomes)

    @property
    def score(self) -> float | None:
        """Killed over mutants that count (equivalents excluded; errors count as not killed), in %."""
        c = self.counts
        judged = c["killed"] + c["survived"] + c["error"]
        return None if judged == 0 else 100.0 * c["killed"] / judged

    def not_killed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in ("survived", "error")]


def score_line(summary: Summary) -> str:
    c = summary.counts
    score = "n/a (no mutant to judge)" if summary.score is None else f"{summary.score:.1f}%"
    return (
        f"mutation score {score}: {c['killed']} killed, {c['survived']} survived, {c['error']} errors, "
        f"{c['equivalent']} reviewed equivalent; {len(summary.outcomes)} mutants in {summary.seconds:.0f} s "
        f"with --jobs {summary.jobs}"
    )


def diff_text(outcome: Outcome, sources: dict[str, str]) -> str:
    m = outcome.mutant
    before, after = m.diff(sources[m.file])
    return "\n".join([*(f"- {line.strip()}" for line in before), *(f"+ {line.strip()}" for line in after)])


def survivors_table(summary: Summary) -> Table:
    table = Table(title="mutants not killed", show_lines=True)
    for col in ("id", "where", "operator", "diff", "status"):
        table.add_column(col, overflow="fold")
    for o in summary.not_killed():
        m = o.mutant
        style = "bold red" if o.status == "survived" else "yellow"
        status = f"[{style}]{o.status}[/]" + (f"\n{o.detail}" if o.detail else "")
        table.add_row(m.id, m.where, m.operator, diff_text(o, summary.sources), status)
    return table


def to_json(summary: Summary) -> dict:
    c = summary.counts
    return {
        "score": None if summary.score is None else round(summary.score, 2),
        "killed": c["killed"],
        "survived": c["survived"],
        "errors": c["error"],
        "equivalent": c["equivalent"],
        "total": len(summary.outcomes),
        "seconds": round(summary.seconds, 1),
        "jobs": summary.jobs,
        "test_command": summary.test_command,
        "control_seconds": None if summary.control is None else round(summary.control.seconds, 1),
        "stale_equivalents": list(summary.stale_equivalents),
        "mutants": [
            {
                "id": o.mutant.id,
                "file": o.mutant.file,
                "line": o.mutant.line,
                "column": o.mutant.column,
                "operator": o.mutant.operator,
                "original": o.mutant.original,
                "replacement": o.mutant.replacement,
                "status": o.status,
                "detail": o.detail,
                "seconds": round(o.seconds, 2),
                "diff": diff_text(o, summary.sources),
            }
            for o in summary.outcomes
        ],
    }


def write_json(summary: Summary, path: Path) -> None:
    path.write_text(json.dumps(to_json(summary), indent=2) + "\n")


def to_markdown(summary: Summary, limit: int = 50) -> str:
    """A pull-request comment: the score and the mutants not killed with their diffs."""
    lines = ["### tenant-harness mutate", "", score_line(summary), ""]
    bad = summary.not_killed()
    if bad:
        lines += ["| id | where | status | diff |", "|---|---|---|---|"]
        for o in bad[:limit]:
            diff = diff_text(o, summary.sources).replace("|", "\\|").replace("\n", "<br>")
            status = o.status + (f": {o.detail}" if o.detail else "").replace("|", "\\|")
            lines.append(f"| `{o.mutant.id}` | `{o.mutant.where}` | {status} | <code>{diff}</code> |")
        if len(bad) > limit:
            lines.append(f"\n... and {len(bad) - limit} more (see the JSON artifact).")
        lines += [
            "",
            "Each survivor is a change to a macro that no test noticed: add a test that fails on it, or, if the "
            "change cannot alter behaviour, list its id with a reason in `mutants-equivalent.yml`.",
        ]
    return "\n".join(lines) + "\n"
