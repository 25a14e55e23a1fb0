"""Which schemas are tenants, stated in Python: the rules the dbt macros apply (patterns or a registry,
never system or project schemas, then the tenant_processing filters), written independently of them so
verification can hold a built table to the configured selection. Pure: the caller lists the schemas.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

HARNESS_SCHEMAS = ("harness_truth",)


def glob_regex(glob: str, *, ignore_case: bool = True) -> re.Pattern:
    """A glob (``*`` any characters, ``?`` one, everything else literal) as a regex: case-insensitive
    (as ``tenant_schema_pattern`` matches) unless ``ignore_case`` is false (as the filters match)."""
    parts = [".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in glob]
    return re.compile("".join(parts), (re.IGNORECASE if ignore_case else 0) | re.DOTALL)


def project_vars(project_dir: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A dbt project's vars as its own models see them (global vars, then the ones scoped to the
    project's name), with ``overrides`` (the harness's --vars) merged in key by key, as dbt gets them."""
    from .runner import merge_vars, read_project_file

    data = read_project_file(project_dir)
    own = dict(data.get("vars") or {})
    scoped = own.pop(str(data.get("name")), None)
    if isinstance(scoped, Mapping):
        own = merge_vars(own, scoped)
    return merge_vars(own, dict(overrides or {}))


@dataclass(frozen=True)
class Selection:
    """The tenant selection a dbt project's vars describe."""

    patterns: tuple[str, ...] = ("tenant_*",)
    registry: Mapping[str, Any] | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    skip_missing_table: bool = True

    @classmethod
    def from_vars(cls, dbt_vars: Mapping[str, Any]) -> Selection:
        """The selection of a project's effective vars (``tenant_schema_pattern``, ``tenant_registry``,
        ``tenant_processing``), with the macros' defaults for what is unset."""
        pattern = dbt_vars.get("tenant_schema_pattern", "tenant_*")
        processing = dbt_vars.get("tenant_processing") or {}
        include = list(processing.get("include_tenants") or [])
        if processing.get("enable_tenant_filter"):
            include = [*processing.get("filtered_tenants", []), *include]
        return cls(
            patterns=(pattern,) if isinstance(pattern, str) else tuple(pattern),
            registry=dbt_vars.get("tenant_registry") or None,
            include=tuple(include),
            exclude=tuple(processing.get("exclude_tenants") or ()),
            skip_missing_table=processing.get("missing_table", "warn") == "warn",
        )

    @staticmethod
    def never_tenants(name: str, project_schemas: Iterable[str] = ()) -> bool:
        """System schemas (pg_*, information_schema), the harness's own, and ``project_schemas``
        (where the project builds) are never tenants. PostgreSQL reserves pg_ in lower case only:
        "PG_Tenant" can be a tenant, as for get_tenant_schemas."""
        reserved = {"information_schema", *HARNESS_SCHEMAS}
        for s in project_schemas:
            reserved |= {s, s.lower(), f"{s}_dbt_test__audit", f"{s}_dbt_test__audit".lower()}
        return name.startswith("pg_") or name in reserved

    def select(
        self,
        schemas: Mapping[str, bool],
        *,
        registry_names: Iterable[str] | None = None,
        project_schemas: Iterable[str] = (),
    ) -> list[str]:
        """The selected tenants among ``schemas`` (name -> has the source table), in name order.

        With a registry, ``registry_names`` are the names its table lists."""
        project_schemas = tuple(project_schemas)
        if self.registry is not None:
            listed = set(registry_names or ())
            found = [s for s in schemas if s in listed]
        else:
            regexes = [glob_regex(p) for p in self.patterns]
            found = [s for s in schemas if any(r.fullmatch(s) for r in regexes)]
        found = [s for s in found if not self.never_tenants(s, project_schemas)]
        # Filter entries name schemas exactly (org_3 and "Org_3" are two tenants); the pattern not.
        if self.include:
            keep = [glob_regex(g, ignore_case=False) for g in self.include]
            found = [s for s in found if any(r.fullmatch(s) for r in keep)]
        if self.exclude:
            drop = [glob_regex(g, ignore_case=False) for g in self.exclude]
            found = [s for s in found if not any(r.fullmatch(s) for r in drop)]
        if self.skip_missing_table:
            found = [s for s in found if schemas[s]]
        return sorted(found, key=str.encode)


__all__ = ["HARNESS_SCHEMAS", "Selection", "glob_regex", "project_vars"]
