"""Which lines of the project changed since a git ref (for ``mutate --changed-since REF``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ..errors import HarnessError

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def changed_lines(root: Path, ref: str, path: Path) -> dict[str, set[int]]:
    """{file relative to ``root``: changed line numbers (in the working tree)} for files under ``path``,
    compared with the merge base of ``ref`` and HEAD (so a pull request's own changes, not what its
    base gained since). Deleted lines mark the lines around them; untracked files count whole."""
    base = _git(root, "merge-base", ref, "HEAD", check=False) or ref
    diff = _git(root, "diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", base.strip(), "--", str(path))
    out: dict[str, set[int]] = {}
    current: set[int] | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            name = line[4:]
            current = (
                None if name == "/dev/null" else out.setdefault(name[2:] if name.startswith("b/") else name, set())
            )
            continue
        m = _HUNK.match(line)
        if m and current is not None:
            start, count = int(m.group(1)), int(m.group(2) if m.group(2) is not None else 1)
            current.update(range(start, start + count) if count else (start, start + 1))
    for name in _git(root, "ls-files", "--others", "--exclude-standard", "--", str(path)).splitlines():
        lines = (root / name).read_text(errors="replace").count("\n") + 1
        out[name] = set(range(1, lines + 1))
    return out


def _git(root: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        if not check:
            return ""
        raise HarnessError(
            f"git {' '.join(args)} failed in {root} (exit {proc.returncode}): {proc.stderr.strip()}. "
            "Hint: --changed-since needs a git checkout that has the ref (in CI: fetch-depth: 0)."
        )
    return proc.stdout
