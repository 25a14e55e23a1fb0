"""The existing-server backend: a PostgreSQL the harness does not own, given by a DSN."""

from __future__ import annotations

import os

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ..endpoint import Endpoint, Server, _mask_password_text, redact_dsn, wait_until_ready
from ..errors import ServerStartError


class ExistingServer(Server):
    """A server the harness does not own, given by a DSN; never stopped by the harness."""

    kind = "dsn"

    def __init__(self, *, dsn: str):
        hint = "Hint: use postgresql://user@host:port/dbname (password in PGPASSWORD) or 'host=... port=...'."
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            raise ServerStartError(
                f"cannot parse the DSN {redact_dsn(dsn)!r}: {_mask_password_text(str(exc).strip())}. {hint}"
            ) from None  # the cause's text would repeat the DSN, password included
        try:
            port = int(params.get("port") or 5432)
        except ValueError:
            raise ServerStartError(f"the DSN's port must be a number, got {params.get('port')!r}. {hint}") from None
        self.endpoint = Endpoint(
            host=str(params.get("host") or "localhost"),
            port=port,
            user=str(params.get("user") or os.environ.get("PGUSER") or "postgres"),
            password=str(params.get("password") or os.environ.get("PGPASSWORD") or ""),
            dbname=str(params.get("dbname") or "postgres"),
        )

    def start(self) -> ExistingServer:
        """Check the server answers a query."""
        try:
            wait_until_ready(self.conninfo(), timeout=3)
        except ServerStartError as exc:
            raise ServerStartError(
                f"{exc}\nHint: check TENANT_HARNESS_DSN / --dsn ({self.endpoint.redacted()})."
            ) from exc
        return self
