"""The existing-server backend: a PostgreSQL the harness does not own, given by a DSN."""

from __future__ import annotations

import os

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ..endpoint import Endpoint, Server, _misparsed, wait_until_ready
from ..errors import ServerStartError


class ExistingServer(Server):
    """A server the harness does not own, given by a DSN; never stopped by the harness."""

    kind = "dsn"

    def __init__(self, *, dsn: str):
        hint = (
            "Hint: use postgresql://user@host:port/dbname with the password in PGPASSWORD, or "
            "percent-encode the password's special characters (% as %25, @ as %40, / as %2F, space as %20)."
        )
        # Neither the DSN nor the parser's message is shown: both can hold the password, or part of it.
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            raise ServerStartError(f"cannot parse the DSN (not shown: it may hold a password). {hint}") from None
        if _misparsed(params):
            raise ServerStartError(
                f"the DSN has an '@' outside its password or a port that is not a number (not shown: it may "
                f"hold a password). {hint}"
            )
        try:
            port = int(params.get("port") or 5432)
        except ValueError:
            raise ServerStartError(
                f"the DSN's port is not a number (not shown: it may hold a password). {hint}"
            ) from None
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
            wait_until_ready(self.conninfo(), timeout=3, running=True)
        except ServerStartError as exc:
            raise ServerStartError(
                f"{exc}\nHint: check TENANT_HARNESS_DSN / --dsn ({self.endpoint.redacted()})."
            ) from exc
        return self
