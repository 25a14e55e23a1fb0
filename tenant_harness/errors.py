"""The harness's exceptions: each says what happened, the values involved, and a hint."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class for every error the harness raises on purpose."""


class ServerStartError(HarnessError):
    """A PostgreSQL server could not be started or reached."""


class ConfigError(HarnessError):
    """A setting has a value the harness cannot use."""


class DbtRunError(HarnessError):
    """A dbt command failed; the message names the failing nodes and their errors."""

    def __init__(self, message: str, *, result=None):
        super().__init__(message)
        self.result = result


class VerificationError(HarnessError):
    """A verification query returned rows (zero rows means pass)."""
