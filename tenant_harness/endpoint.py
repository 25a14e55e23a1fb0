"""Where a PostgreSQL server listens, the common surface of every backend, and DSN redaction.

Every server exposes the same small surface: ``conninfo(dbname)``, ``dbt_env(dbname)`` and ``stop()``,
and is a context manager, so the rest of the harness never cares where PostgreSQL runs.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .errors import ServerStartError

_READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Endpoint:
    """Where a server listens and who to log in as."""

    host: str
    port: int
    user: str
    password: str = ""
    dbname: str = "postgres"

    def conninfo(self, dbname: str | None = None) -> str:
        """A libpq connection string for ``dbname`` (default: the endpoint's database)."""
        params = dict(host=self.host, port=self.port, user=self.user, dbname=dbname or self.dbname)
        if self.password:
            params["password"] = self.password
        return make_conninfo(**params)

    def dbt_env(self, dbname: str | None = None) -> dict[str, str]:
        """The environment variables ``dbt/profiles.yml`` reads for the postgres target."""
        return {
            "DBT_PG_HOST": self.host,
            "DBT_PG_PORT": str(self.port),
            "DBT_PG_USER": self.user,
            "DBT_ENV_SECRET_PG_PASSWORD": self.password,
            "DBT_PG_DBNAME": dbname or self.dbname,
        }

    def redacted(self) -> str:
        """The DSN with any password masked, for logs and messages."""
        return redact_dsn(self.conninfo())


class Server:
    """Base class: a running server with an :class:`Endpoint`; context manager that stops it."""

    endpoint: Endpoint
    kind = "server"

    def conninfo(self, dbname: str | None = None) -> str:
        return self.endpoint.conninfo(dbname)

    def stop(self) -> None:
        """Stop the server if the harness owns it; a no-op for servers it does not own."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# Answers from a running server that waiting cannot change (libpq gives their text, no SQLSTATE).
_REFUSALS = ("password authentication failed", "no pg_hba.conf entry", "does not exist")


def wait_until_ready(
    conninfo: str, *, timeout: float = _READY_TIMEOUT_S, proc=None, log=None, running: bool = False
) -> None:
    """Wait until ``select 1`` answers (not merely an open port); fail early if ``proc`` died, or,
    for a server already ``running`` (not one starting up), at once when it refuses the login."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerStartError(
                f"postgres exited with code {proc.returncode} before accepting connections."
                f"{_log_tail(log)}\nHint: check the port is free and the data directory writable."
            )
        try:
            with psycopg.connect(conninfo, connect_timeout=2, autocommit=True) as conn:
                conn.execute("select 1")
            return
        except psycopg.OperationalError as exc:
            last = exc
            if running and any(text in str(exc) for text in _REFUSALS):
                raise ServerStartError(
                    f"PostgreSQL at {redact_dsn(conninfo)!r} refused the connection: {_redact_text(str(exc), conninfo)}"
                ) from None
            time.sleep(0.02)
    raise ServerStartError(
        f"PostgreSQL at {redact_dsn(conninfo)!r} did not answer 'select 1' within {timeout:.0f} s: "
        f"{_redact_text(str(last), conninfo)}"
        f"{_log_tail(log)}"
    )


def redact_dsn(dsn: str) -> str:
    """``dsn`` with its password masked, for messages. A DSN that cannot be parsed, or that looks
    split by a raw ``@``, ``/`` or ``:`` in its password (see _misparsed), is not shown at all: where
    the password ends cannot be told."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return UNSHOWN_DSN
    if _misparsed(params):
        return UNSHOWN_DSN
    return make_conninfo(dsn, password="****") if params.get("password") else dsn


UNSHOWN_DSN = "<DSN not shown: it may hold a password>"


def _misparsed(params: dict) -> bool:
    """Whether a parsed DSN looks like a password with a raw ``@``, ``/`` or ``:`` was split into
    other fields (an ``@`` outside the password, a port that is not a number)."""
    port = str(params.get("port") or "5432")
    return any("@" in str(v) for k, v in params.items() if k != "password") or not port.replace(",", "").isdigit()


def _redact_text(text: str, conninfo: str) -> str:
    password = conninfo_to_dict(conninfo).get("password")
    return text.replace(str(password), "****") if password else text


def _mask_password_text(text: str) -> str:
    """``text`` with anything that looks like a password in a DSN masked: the user:password@ of a
    URI and password=... of a key/value string. For DSNs that cannot be parsed."""
    text = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1****@", text)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1****", text, flags=re.IGNORECASE)


def _log_tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return "\nLog tail:\n  " + "\n  ".join(tail)
