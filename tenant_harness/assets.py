"""Where the harness's own dbt project and verification SQL are.

In a checkout (and an editable install) they are the repository's ``dbt/`` and ``sql/verification/``,
the source of truth. A built wheel carries copies of both inside the package, under ``_bundled/``
(see pyproject.toml), so a non-editable install finds them without the checkout.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE / "_bundled"
_CHECKOUT = _PACKAGE.parent


def _first_with(marker: str, *candidates: Path) -> Path:
    for candidate in candidates:
        if (candidate / marker).exists():
            return candidate
    return candidates[-1]  # missing everywhere: the error that follows names this path


def _first_dir_with_sql(*candidates: Path) -> Path:
    for candidate in candidates:
        if any(candidate.glob("*.sql")):
            return candidate
    return candidates[-1]


# The checkout first: in a source tree it is the one being edited.
PROJECT_DIR = _first_with("dbt_project.yml", _CHECKOUT / "dbt", _BUNDLED / "dbt")
SQL_DIR = _first_dir_with_sql(_CHECKOUT / "sql" / "verification", _BUNDLED / "sql" / "verification")
