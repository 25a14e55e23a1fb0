"""Amazon Redshift as a target: settings from the environment or a connection file, never from code.

The seed kept credentials in a generated ``bastion-redshift-connection.json``; the same file works
here (``TENANT_HARNESS_REDSHIFT_CONNECTION_FILE``), provided only its owner can read it (0600).
Environment variables win over the file. The password is only ever passed on to dbt as
``DBT_ENV_SECRET_REDSHIFT_PASSWORD``, which dbt masks in its logs, and to psycopg.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import make_conninfo

from .errors import ConfigError

PREFIX = "TENANT_HARNESS_REDSHIFT_"
PASSWORD_VAR = "DBT_ENV_SECRET_REDSHIFT_PASSWORD"  # dbt masks DBT_ENV_SECRET_* values in its logs
REQUIRED = ("host", "user", "password")
# Keys of the seed's connection JSON, mapped to ours.
_FILE_KEYS = {"host": "host", "port": "port", "database": "dbname", "dbname": "dbname",
              "username": "user", "user": "user", "password": "password"}  # fmt: skip


@dataclass(frozen=True)
class RedshiftSettings:
    """Where the Redshift cluster is and who to log in as (the password is not shown in repr)."""

    host: str
    user: str
    password: str
    port: int = 5439
    dbname: str = "dev"
    zeroetl_database: str | None = None  # read tenants from an existing Zero-ETL database (read-only)

    def __repr__(self) -> str:
        return f"RedshiftSettings(host={self.host!r}, user={self.user!r}, port={self.port}, dbname={self.dbname!r})"

    def conninfo(self) -> str:
        """A libpq string for psycopg (Redshift speaks the PostgreSQL wire protocol), TLS required."""
        return make_conninfo(host=self.host, port=self.port, user=self.user, password=self.password,
                             dbname=self.dbname, sslmode="require")  # fmt: skip

    def dbt_env(self, schema: str) -> dict[str, str]:
        """The variables dbt/profiles.yml's redshift target reads."""
        return {
            "DBT_TARGET": "redshift",
            "DBT_REDSHIFT_HOST": self.host,
            "DBT_REDSHIFT_PORT": str(self.port),
            "DBT_REDSHIFT_USER": self.user,
            "DBT_ENV_SECRET_REDSHIFT_PASSWORD": self.password,
            "DBT_REDSHIFT_DBNAME": self.dbname,
            "DBT_REDSHIFT_SCHEMA": schema,
        }


def missing_settings(env: Mapping[str, str] | None = None) -> list[str]:
    """Names of the settings that are neither in the environment nor in the connection file."""
    env = os.environ if env is None else env
    try:
        from_file = _read_connection_file(env)
    except ConfigError:
        from_file = {}
    return [_var(key) for key in REQUIRED if not (env.get(_var(key)) or from_file.get(key))]


def _var(key: str) -> str:
    return PASSWORD_VAR if key == "password" else PREFIX + key.upper()


def load_settings(env: Mapping[str, str] | None = None) -> RedshiftSettings:
    """Settings from TENANT_HARNESS_REDSHIFT_* (password: DBT_ENV_SECRET_REDSHIFT_PASSWORD) over the
    connection file; a clear error naming what is missing."""
    env = os.environ if env is None else env
    values = _read_connection_file(env)
    for key in ("host", "port", "user", "password", "dbname", "zeroetl_database"):
        if env.get(_var(key)):
            values[key] = env[_var(key)]
    missing = [_var(key) for key in REQUIRED if not values.get(key)]
    if missing:
        raise ConfigError(
            f"Redshift settings missing: {', '.join(missing)}. Hint: set them, or "
            f"{PREFIX}CONNECTION_FILE to a JSON file (mode 0600) with host, port, database, username, password."
        )
    try:
        port = int(values.get("port") or 5439)
    except ValueError as exc:
        raise ConfigError(f"Redshift port must be a number, got {values['port']!r}.") from exc
    return RedshiftSettings(
        host=values["host"], user=values["user"], password=values["password"], port=port,
        dbname=values.get("dbname") or "dev", zeroetl_database=values.get("zeroetl_database"),
    )  # fmt: skip


def _read_connection_file(env: Mapping[str, str]) -> dict[str, str]:
    path_text = env.get(PREFIX + "CONNECTION_FILE")
    if not path_text:
        return {}
    path = Path(path_text)
    if not path.is_file():
        raise ConfigError(f"Redshift connection file {path} does not exist. Hint: check {PREFIX}CONNECTION_FILE.")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"Redshift connection file {path} is readable by others (mode {mode:04o}); it holds a password. "
            f"Hint: chmod 600 {path}"
        )
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"Redshift connection file {path} is not valid JSON ({exc.msg}, line {exc.lineno}).") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"Redshift connection file {path} must hold a JSON object.")
    return {ours: str(data[theirs]) for theirs, ours in _FILE_KEYS.items() if data.get(theirs) is not None}
