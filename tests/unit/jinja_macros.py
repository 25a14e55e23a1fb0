"""Load the dbt project's pure macros with plain Jinja, so their logic is tested without dbt or a
database. Provides what those macros use of dbt's context: return(), exceptions (warn() collects
into ``Macros.warnings``), adapter.dispatch (to ``adapter_type``'s variant, else the default), modules,
var() (always its default), the project namespace, do/loopcontrols, and any ``context`` given
(``target=...``)."""

from __future__ import annotations

import datetime
import re
from types import SimpleNamespace

import jinja2

from tenant_harness.runner import default_project_dir

MACRO_DIR = default_project_dir() / "macros"


class CompilerError(Exception):
    """Stands in for dbt's compilation error."""


class _Return(Exception):
    def __init__(self, value):
        self.value = value


def _return(value):
    raise _Return(value)


def _raise_compiler_error(message):
    raise CompilerError(message)


class Macros:
    """The macros of the given files, callable as Python functions: ``Macros("x.sql").name(...)``."""

    def __init__(self, *files: str, adapter_type: str = "postgres", **context):
        env = jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])
        self.warnings: list[str] = []

        def dispatch(name, package):
            """dbt's order: the adapter's own variant, else the default."""
            return getattr(namespace, f"{adapter_type}__{name}", None) or getattr(namespace, "default__" + name)

        self._macros = {}
        namespace = SimpleNamespace()
        env.globals.update(
            {
                "return": _return,
                "exceptions": SimpleNamespace(raise_compiler_error=_raise_compiler_error, warn=self.warnings.append),
                "adapter": SimpleNamespace(dispatch=dispatch),
                "modules": SimpleNamespace(re=re, datetime=datetime),
                "var": lambda name, default=None: default,  # the project's defaults
                "multitenant_analytics": namespace,
                **context,
            }
        )
        for file in files:
            template = env.from_string((MACRO_DIR / file).read_text())
            # Render the file to define its macros; context.vars also holds the _private ones,
            # which a template module does not export.
            context = template.new_context()
            "".join(template.root_render_func(context))
            for name, macro in context.vars.items():
                if isinstance(macro, jinja2.runtime.Macro):
                    setattr(namespace, name, _callable(macro))
        self._namespace = namespace

    def __getattr__(self, name):
        return getattr(self._namespace, name)


def _callable(macro):
    def call(*args, **kwargs):
        try:
            return str(macro(*args, **kwargs))
        except _Return as ret:
            return ret.value

    return call
