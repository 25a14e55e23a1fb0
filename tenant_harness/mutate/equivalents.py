"""The reviewed list of equivalent mutants: mutants no test can kill because the program behaves the
same, each with the reason a reviewer accepted. Matched by the mutant's stable id, so an entry
follows its line when other lines move, and goes stale (reported) when that line changes.

    # dbt/mutants-equivalent.yml
    equivalent:
      - id: 3f2a9c1b7e
        where: macros/union/widen_type.sql:24     # for the reader; the id decides
        change: "'*' -> '?'"
        reason: the modifier regex also matches with at most one space, and format_type writes none
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import HarnessError

DEFAULT_NAME = "mutants-equivalent.yml"


@dataclass(frozen=True)
class Equivalent:
    id: str
    reason: str
    where: str = ""
    change: str = ""


def load(path: Path) -> dict[str, Equivalent]:
    """The entries of ``path`` by id; {} when the file does not exist. A malformed file, an entry
    without an id or a reason, or a repeated id is an error naming the file and the entry."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise HarnessError(f"{path}: not valid YAML: {exc}") from exc
    entries = data.get("equivalent") if isinstance(data, dict) else None
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise HarnessError(f"{path}: `equivalent` must be a list of {{id, reason}} entries")
    out: dict[str, Equivalent] = {}
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not str(entry.get("id") or "").strip():
            raise HarnessError(f"{path}: entry {n} has no id. Hint: copy the id from `tenant-harness mutate --list`.")
        mid = str(entry["id"]).strip()
        reason = str(entry.get("reason") or "").strip()
        if not reason:
            raise HarnessError(f"{path}: entry {n} ({mid}) has no reason; an equivalent mutant needs a reviewed one.")
        if mid in out:
            raise HarnessError(f"{path}: mutant id {mid} is listed twice (entries {n} and an earlier one).")
        out[mid] = Equivalent(mid, reason, str(entry.get("where") or ""), str(entry.get("change") or ""))
    return out


def entry_yaml(mutant) -> str:
    """A ready-to-review entry for ``mutant`` (the reason left for the reviewer)."""
    return f"  - id: {mutant.id}\n    where: {mutant.where}\n    change: {json.dumps(mutant.change)}\n    reason: \n"
