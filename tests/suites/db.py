"""Small helpers the local suites share: run SQL, run dbt in a process of its own, watch the server."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg


def run_sql(conninfo: str, statement, params=None) -> list[tuple]:
    """Run one statement (or several, without params) in its own committed transaction; its rows."""
    with psycopg.connect(conninfo) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def wait_until(conninfo: str, query: str, params=None, *, timeout: float = 120.0) -> bool:
    """Poll ``query`` (one row, one boolean-ish value) until it is true; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run_sql(conninfo, query, params)[0][0]:
            return True
        time.sleep(0.02)
    return False


def wait_for_query(conninfo: str, like: str, *, timeout: float = 120.0) -> None:
    """Wait until another session runs a statement matching the LIKE pattern ``like``."""
    probe = (
        "select count(*) > 0 from pg_stat_activity where pid <> pg_backend_pid() and state = 'active' and query like %s"
    )
    if not wait_until(conninfo, probe, (like,), timeout=timeout):
        raise AssertionError(f"no session ran a statement like {like!r} within {timeout} s")


def waiting_for(conninfo: str, locktype: str = "relation", relation: str | None = None) -> str:
    """A query that is true while some session waits for a lock of ``locktype`` (on ``relation``)."""
    on = f" and relation = '{relation}'::regclass" if relation else ""
    return f"select count(*) > 0 from pg_locks where not granted and locktype = '{locktype}'{on}"


@contextlib.contextmanager
def holding(conninfo: str, statement: str) -> Iterator[psycopg.Connection]:
    """Run ``statement`` (e.g. ``lock table ...``) in a transaction kept open for the block."""
    with psycopg.connect(conninfo) as conn:
        conn.execute(statement)
        yield conn


def dbt_process(
    env: Mapping[str, str], args: list[str], *, work_dir: Path, vars: Mapping[str, Any] | None = None
) -> subprocess.Popen:
    """``dbt <args>`` in a separate Python process (dbt runs one command per process at a time), so
    a test can overlap two real runs. Its output (and the failure, if any) comes on stdout."""
    payload = json.dumps({"env": dict(env), "args": args, "work_dir": str(work_dir), "vars": dict(vars or {})})
    return subprocess.Popen(
        [sys.executable, "-m", "tests.suites.db", payload],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).resolve().parent.parent.parent,
    )


def _main(payload: str) -> int:
    from tenant_harness.runner import DbtProject

    spec = json.loads(payload)
    with DbtProject(env=spec["env"], work_dir=spec["work_dir"], vars=spec["vars"], quiet=True) as project:
        result = project.invoke(*spec["args"], check=False)
    print(result.describe_failure() if not result.success else "ok", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
