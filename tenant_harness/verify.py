"""Verification SQL: each ``sql/verification/*.sql`` file is a query that returns zero rows on pass.

A file's leading comment describes the check; a ``-- requires: relation[, relation]`` line in it names
relations the check needs (e.g. the generator's truth): where one is missing the check is skipped.
Where an engine needs different SQL, ``sql/verification/<engine>/<name>.sql`` replaces ``<name>.sql``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from . import assets
from .database import relation_exists

DEFAULT_SQL_DIR = assets.SQL_DIR
_REQUIRES = "requires:"


@dataclass(frozen=True)
class CheckResult:
    """One verification query's outcome; ``rows`` holds up to ``sample`` offending rows."""

    name: str
    description: str
    status: str  # "pass", "fail" or "skip"
    failing_rows: int
    rows: tuple[tuple, ...]
    columns: tuple[str, ...]
    seconds: float

    @property
    def passed(self) -> bool:
        return self.status != "fail"


def _header(text: str) -> tuple[str, list[str]]:
    """(description, required relations) from a file's leading comment."""
    lines, requires = [], []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        body = line.lstrip("- ").strip()
        if body.startswith(_REQUIRES):
            requires += [r.strip() for r in body[len(_REQUIRES) :].split(",") if r.strip()]
        else:
            lines.append(body)
    return " ".join(lines), requires


def check_files(sql_dir: str | Path = DEFAULT_SQL_DIR, engine: str = "postgres") -> list[Path]:
    """The verification files for ``engine``: its own version of a check where it has one."""
    base = Path(sql_dir)
    return [base / engine / p.name if (base / engine / p.name).exists() else p for p in sorted(base.glob("*.sql"))]


def run_checks(
    conninfo: str,
    *,
    schema: str = "analytics",
    sql_dir: str | Path = DEFAULT_SQL_DIR,
    engine: str = "postgres",
    sample: int = 5,
) -> list[CheckResult]:
    """Run every verification query with ``schema`` (where dbt built the models) first on the
    search_path. Checks whose required relations are absent are skipped."""
    files = check_files(sql_dir, engine)
    results = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("set search_path to {}, public").format(sql.Identifier(schema)))
        for path in files:
            text = path.read_text().strip().rstrip(";")
            description, requires = _header(text)
            if not all(relation_exists(conn, r, schema=schema) for r in requires):
                results.append(CheckResult(path.stem, description, "skip", 0, (), (), 0.0))
                continue
            started = time.perf_counter()
            cur = conn.execute(f"select count(*) over () as failing_rows, q.* from ({text}) as q limit {sample}")
            rows = cur.fetchall()
            columns = tuple(d.name for d in cur.description[1:])
            failing = rows[0][0] if rows else 0
            results.append(
                CheckResult(
                    path.stem,
                    description,
                    "fail" if failing else "pass",
                    failing,
                    tuple(r[1:] for r in rows),
                    columns,
                    time.perf_counter() - started,
                )  # fmt: skip
            )
    return results
