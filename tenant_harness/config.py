"""One frozen configuration per run.

Precedence: explicit argument (a CLI flag) > ``TENANT_HARNESS_*`` environment variable > pytest ini
option (from the plugin) > config file (``tenant-harness.toml``) > default. The environment and the
files are read when a config is built, never at import time. Secrets are never taken from the file:
a password comes from the environment (``TENANT_HARNESS_DSN`` or ``PGPASSWORD``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .dataset import TableSpec, table_specs
from .errors import ConfigError
from .server import redact_dsn
from .verify import ModelSpec, model_specs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENV_PREFIX = "TENANT_HARNESS_"
CONFIG_FILE = "tenant-harness.toml"
_LISTS = ("include_tenants", "exclude_tenants", "tenant_names")


@dataclass(frozen=True)
class HarnessConfig:
    """Settings of one harness run (CLI command or test session).

    ``sources`` tells, per setting, where its value came from: flag, env, ini, file or default.
    """

    tenants: int = 3
    tenant_names: tuple[str, ...] = ()  # generate schemas of these names instead of `tenants` tenant_*
    rows: int = 2
    seed: int = 42
    batch_size: int | None = None  # None: the dbt project's tenant_processing.batch_size
    max_tenant_limit: int | None = None  # None: the project's (2000), raised for larger tenant sets
    tenant_pattern: str | None = None  # None: the project's tenant_schema_pattern ('tenant_*')
    include_tenants: tuple[str, ...] = ()
    exclude_tenants: tuple[str, ...] = ()
    dsn: str | None = None
    target: str = "local"  # local (PostgreSQL) or redshift
    backend: str = "embedded"
    database: str = "multitenant_analytics"
    schema: str = "analytics"
    project_dir: Path | None = None
    tables: tuple[TableSpec, ...] = ()  # the generator's tables ([[harness.tables]]); () = users
    models: tuple[ModelSpec, ...] = ()  # what `verify` checks ([[harness.models]]); () = all_users
    checks_dir: Path | None = None  # a folder of the project's own verification queries
    ssh_tunnel: str | None = None  # user@host[:port]: reach the target through this bastion
    ssh_key: Path | None = None  # the private key for the bastion
    ssh_known_hosts: Path | None = None  # known_hosts to check the bastion's key against (default: ssh's)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        config_file: str | os.PathLike | None = None,
        ini: Mapping[str, Any] | None = None,
        **given: Any,
    ) -> HarnessConfig:
        """A config from explicit values (None means "not given") over TENANT_HARNESS_* variables over
        ``ini`` (the pytest ini options) over the config file (``config_file``, else
        TENANT_HARNESS_CONFIG, else ./tenant-harness.toml)."""
        ini = ini or {}
        env = os.environ if env is None else env
        file_path = config_file or env.get(ENV_PREFIX + "CONFIG")
        from_file = _read_file(file_path)
        file_name = str(file_path or CONFIG_FILE)
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for f in fields(cls):
            if f.name == "sources":
                continue
            for source, raw in (
                ("flag", given.get(f.name)),
                ("env", env.get(ENV_PREFIX + f.name.upper())),
                ("ini", ini.get(f.name)),
                ("file", from_file.get(f.name)),
            ):
                if raw is not None and raw != "" and raw != ():
                    values[f.name] = _coerce(f.name, raw, str(f.type), _where(f.name, source, file_name))
                    sources[f.name] = source
                    break
            else:
                sources[f.name] = "default"
        config = cls(**values, sources=sources)
        config.validate(origin=lambda name: _where(name, sources[name], file_name))
        return config

    def validate(self, origin: Callable[[str], str] | None = None) -> None:
        """Check the values' ranges; ``origin(name)`` says where a setting came from, for the message."""

        def bad(name: str, problem: str, hint: str = "") -> ConfigError:
            where = f" (from {origin(name)})" if origin else ""
            return ConfigError(f"{name} must be {problem}{where}.{hint}")

        for name in ("tenants", "rows"):
            if getattr(self, name) < 0:
                raise bad(name, f">= 0, got {getattr(self, name)}")
        for name in ("batch_size", "max_tenant_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise bad(name, f">= 1, got {value}", " Hint: --batch-size 50.")
        if self.target not in ("local", "redshift"):
            raise bad("target", f"'local' or 'redshift', got {self.target!r}")
        if len(set(self.tenant_names)) != len(self.tenant_names) or not all(self.tenant_names):
            raise bad("tenant_names", f"distinct, non-empty schema names, got {list(self.tenant_names)}")
        if self.ssh_tunnel and not self.ssh_key:
            hint = f" Hint: --ssh-key ~/.ssh/bastion.pem (or {ENV_PREFIX}SSH_KEY)."
            raise bad("ssh_tunnel", f"given with a key file, got {self.ssh_tunnel!r} and no ssh_key", hint)
        if self.backend not in ("embedded", "docker"):
            raise bad("backend", f"'embedded' or 'docker', got {self.backend!r}")

    @property
    def tenant_count(self) -> int:
        """How many tenants the generator makes: the names given, else ``tenants``."""
        return len(self.tenant_names) if self.tenant_names else self.tenants

    def dbt_vars(self, tenants: int | None = None) -> dict[str, Any]:
        """The --vars this config implies for the dbt project; ``tenants`` (default: this config's)
        is how many tenants there are, which raises the project's 2,000 safety limit to fit."""
        processing: dict[str, Any] = {}
        if self.batch_size is not None:
            processing["batch_size"] = self.batch_size
        tenants = self.tenant_count if tenants is None else tenants
        limit = self.max_tenant_limit or (tenants if tenants > 2000 else None)
        if limit:
            processing["max_tenant_limit"] = limit
        if self.include_tenants:
            processing["include_tenants"] = list(self.include_tenants)
        if self.exclude_tenants:
            processing["exclude_tenants"] = list(self.exclude_tenants)
        out: dict[str, Any] = {"tenant_processing": processing} if processing else {}
        if self.tenant_pattern:
            out["tenant_schema_pattern"] = self.tenant_pattern
        return out

    def redacted(self) -> dict[str, Any]:
        """The settings with any password in the DSN masked, for printing."""
        out = asdict(self)
        out.pop("sources")
        out["tables"] = tuple(t.name for t in self.tables)
        out["models"] = tuple(m.model for m in self.models)
        if self.dsn:
            out["dsn"] = redact_dsn(self.dsn)
        return out


def _read_file(path: str | os.PathLike | None) -> dict[str, Any]:
    candidate = Path(path) if path else Path(CONFIG_FILE)
    if not candidate.exists():
        if path:
            raise ConfigError(f"config file {candidate} does not exist. Hint: check --config / {ENV_PREFIX}CONFIG.")
        return {}
    try:
        data = tomllib.loads(candidate.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {candidate} is not valid TOML: {exc}.") from exc
    settings = data.get("harness", data)
    known = {f.name for f in fields(HarnessConfig)} - {"sources"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(
            f"config file {candidate}: unknown setting(s) {', '.join(unknown)}. Hint: known settings are "
            f"{', '.join(sorted(known))}."
        )
    if settings.get("dsn") and redact_dsn(str(settings["dsn"])) != str(settings["dsn"]):
        raise ConfigError(
            f"config file {candidate}: the dsn holds a password. Hint: keep secrets out of files: "
            f"set PGPASSWORD or {ENV_PREFIX}DSN in the environment."
        )
    for name in ("project_dir", "checks_dir"):
        if isinstance(settings.get(name), str):
            # Relative to the file, so the file works from any folder.
            settings = {**settings, name: str(candidate.resolve().parent / settings[name])}
    return settings


def _where(name: str, source: str, file: str) -> str:
    """Where a setting's value came from, for messages: the flag, the variable or the file's path."""
    return {
        "flag": "the command line",
        "env": f"{ENV_PREFIX}{name.upper()}",
        "ini": f"the pytest ini option tenant_harness_{name}",
        "file": file,
    }.get(source, source)


def _coerce(name: str, raw: Any, annotation: str, where: str) -> Any:
    try:
        if name in ("tables", "models"):
            if isinstance(raw, str):  # from the environment: JSON
                raw = json.loads(raw)
            if not isinstance(raw, (list, tuple)):
                raise ValueError
            return table_specs(raw) if name == "tables" else model_specs(raw)
        if name in _LISTS:
            if isinstance(raw, str):
                return tuple(part.strip() for part in raw.split(",") if part.strip())
            if not isinstance(raw, (list, tuple)) or not all(isinstance(x, str) for x in raw):
                raise ValueError
            return tuple(raw)
        if "int" in annotation:
            if isinstance(raw, bool):
                raise ValueError
            return raw if isinstance(raw, int) else int(str(raw).strip())
        if "Path" in annotation:
            return Path(raw)
        if not isinstance(raw, str):
            raise ValueError
    except ValueError as exc:
        kind = (
            "a list of table specs"
            if name == "tables"
            else "a list of models to verify"
            if name == "models"
            else "a list of names"
            if name in _LISTS
            else "a whole number"
            if "int" in annotation
            else "text"
        )
        raise ConfigError(f"{name} must be {kind}, got {raw!r} (from {where}).") from exc
    return raw
