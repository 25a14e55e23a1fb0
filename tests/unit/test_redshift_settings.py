"""Redshift settings: environment over connection file, 0600 enforced, password never shown."""

from __future__ import annotations

import json

import pytest

from tenant_harness.errors import ConfigError
from tenant_harness.redshift import load_settings, missing_settings

pytestmark = [pytest.mark.unit, pytest.mark.local]


def write(path, data, mode=0o600):
    path.write_text(json.dumps(data))
    path.chmod(mode)
    return str(path)


def test_connection_file_like_the_seeds_with_environment_overrides(tmp_path):
    file = write(
        tmp_path / "bastion-redshift-connection.json",
        {"host": "c.example", "port": 5439, "database": "dev", "username": "u", "password": "s3cret"},
    )
    env = {"TENANT_HARNESS_REDSHIFT_CONNECTION_FILE": file, "TENANT_HARNESS_REDSHIFT_DBNAME": "scratch"}
    settings = load_settings(env)
    assert (settings.host, settings.user, settings.dbname, settings.port) == ("c.example", "u", "scratch", 5439)
    assert settings.dbt_env("s")["DBT_ENV_SECRET_REDSHIFT_PASSWORD"] == "s3cret"
    assert "s3cret" not in repr(settings)
    assert "sslmode=require" in settings.conninfo()


def test_file_readable_by_others_is_refused(tmp_path):
    file = write(tmp_path / "c.json", {"host": "h", "username": "u", "password": "p"}, mode=0o644)
    with pytest.raises(ConfigError, match="mode 0644.*chmod 600"):
        load_settings({"TENANT_HARNESS_REDSHIFT_CONNECTION_FILE": file})


def test_missing_settings_are_named():
    assert missing_settings({}) == [
        "TENANT_HARNESS_REDSHIFT_HOST", "TENANT_HARNESS_REDSHIFT_USER", "DBT_ENV_SECRET_REDSHIFT_PASSWORD"]  # fmt: skip
    with pytest.raises(ConfigError, match="TENANT_HARNESS_REDSHIFT_USER"):
        load_settings({"TENANT_HARNESS_REDSHIFT_HOST": "h", "DBT_ENV_SECRET_REDSHIFT_PASSWORD": "p"})
