"""One frozen configuration per run. Precedence: explicit argument > environment > default.

The environment is read when a config is built, never at import time. Secrets (passwords) are never
stored here: they stay in the DSN given through the environment or come from PGPASSWORD.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

ENV_PREFIX = "TENANT_HARNESS_"


@dataclass(frozen=True)
class HarnessConfig:
    """Settings of one harness run (CLI command or test session)."""

    tenants: int = 3
    rows: int = 2
    seed: int = 42
    batch_size: int | None = None  # None: the dbt project's tenant_processing.batch_size
    max_tenant_limit: int | None = None  # None: the project's (2000); raised for larger tenant sets
    dsn: str | None = None
    backend: str = "embedded"
    database: str = "multitenant_analytics"
    schema: str = "analytics"
    project_dir: Path | None = None

    @classmethod
    def build(cls, env: Mapping[str, str] | None = None, **given: Any) -> HarnessConfig:
        """A config from explicit values (None means "not given") over TENANT_HARNESS_* variables."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = given.get(f.name)
            if raw is None:
                raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, raw, f.type)
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        for name in ("tenants", "rows"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}.")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}. Hint: --batch-size 50.")

    def dbt_vars(self) -> dict[str, Any]:
        """The --vars this config implies for the dbt project."""
        processing: dict[str, Any] = {}
        if self.batch_size is not None:
            processing["batch_size"] = self.batch_size
        limit = self.max_tenant_limit or (self.tenants if self.tenants > 2000 else None)
        if limit:
            processing["max_tenant_limit"] = limit
        return {"tenant_processing": processing} if processing else {}

    def redacted(self) -> dict[str, Any]:
        """The settings with any password in the DSN masked, for printing."""
        out = asdict(self)
        if self.dsn:
            from psycopg.conninfo import conninfo_to_dict, make_conninfo

            params = conninfo_to_dict(self.dsn)
            if params.get("password"):
                out["dsn"] = make_conninfo(self.dsn, password="****")
        return out


def _coerce(name: str, raw: Any, annotation: Any) -> Any:
    kind = str(annotation)
    try:
        if "int" in kind:
            return raw if isinstance(raw, int) else int(str(raw).strip())
        if "Path" in kind:
            return Path(raw)
    except ValueError as exc:
        raise ConfigError(
            f"{name} must be a whole number, got {raw!r} (from argument or {ENV_PREFIX}{name.upper()})."
        ) from exc
    return str(raw)
