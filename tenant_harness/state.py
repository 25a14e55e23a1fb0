"""The state file that lets ``tenant-harness up`` hand its server to later commands and ``down``."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import HarnessError
from .server import Endpoint


@dataclass(frozen=True)
class HarnessState:
    """What ``up`` started: the endpoint (never a password), and for an embedded server its pid and
    folder, for a Docker one its container's name, so ``down`` can stop and remove it."""

    endpoint: Endpoint
    database: str
    kind: str
    pid: int | None = None
    base_dir: str | None = None
    tenants: int | None = None  # how many were generated: later runs raise max_tenant_limit to fit
    container: str | None = None
    # In a database the harness did not start (`up --dsn`): the schemas `up` created there and the dbt
    # target schema later runs build, when none of them existed before; `down` drops exactly these.
    created_schemas: list[str] | None = None


STATE_DIR = ".tenant-harness"
# What marks the root of a project, where `up` keeps its state: as git finds .git.
_ROOT_MARKERS = (".git", "tenant-harness.toml")


def state_path(start: Path | None = None) -> Path:
    """``TENANT_HARNESS_STATE_DIR``/state.json if set. Otherwise found as git finds ``.git``: from
    ``start`` (the current folder) up to the project root (the first folder with ``.git`` or
    ``tenant-harness.toml``), the first ``.tenant-harness/state.json`` that exists; when there is
    none, the one at the project root (or in ``start`` outside any project), where ``up`` writes."""
    override = os.environ.get("TENANT_HARNESS_STATE_DIR")
    if override:
        return Path(override) / "state.json"
    here = (start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / STATE_DIR / "state.json"
        if candidate.exists():
            return candidate
        if any((folder / marker).exists() for marker in _ROOT_MARKERS):
            return candidate
    return here / STATE_DIR / "state.json"


@contextlib.contextmanager
def exclusive(command: str) -> Iterator[None]:
    """Hold the state's lock while ``command`` (up, down) reads and writes the state: two ``up``s at
    once each saw no state, each started a server, and the one whose state was overwritten ran on
    with nothing left to stop it. The lock is on the folder holding the state folder (never removed,
    unlike the state folder itself, so every process locks the same inode); a second command fails
    at once rather than wait."""
    folder = state_path().parent.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HarnessError(
                f"{command}: another tenant-harness up or down is running for {state_path()}. Hint: wait for it "
                "to finish (tenant-harness down then stops the server it started)."
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def save(state: HarnessState) -> Path:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = asdict(state)
    data["endpoint"].pop("password", None)
    path.write_text(json.dumps(data, indent=2))
    return path


def load() -> HarnessState | None:
    path = state_path()
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        endpoint = Endpoint(**data.pop("endpoint"))
        return HarnessState(endpoint=endpoint, **data)
    except (ValueError, TypeError, KeyError) as exc:
        raise HarnessError(
            f"unreadable state file {path}: {exc}. Hint: remove it (tenant-harness down --force)."
        ) from exc


def clear() -> None:
    path = state_path()
    path.unlink(missing_ok=True)
    if path.parent.exists() and not any(path.parent.iterdir()):
        path.parent.rmdir()
