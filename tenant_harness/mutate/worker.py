"""A long-lived pytest process that runs mutants one after another on one copy of the project.

``python -m tenant_harness.mutate.worker <pytest args>`` runs in its copy (the working directory), with
the environment :class:`~tenant_harness.mutate.run.Workspace` gives a copy. Python, pytest, dbt and
the harness are imported once; each mutant costs a pytest session, not a process. It reads one JSON
request a line on stdin and answers one JSON line on its original stdout:

    {"file": "<path in the copy>", "text": "<the mutated file>", "plan": "<plan file>",
     "result": "<result file>", "log": "<log file>"}  ->  {"rc": <pytest's exit status>}

Per request: the file is written, ``pytest.main`` runs with the ``pytest_order`` plugin and its
output (and that of every process it starts) going to the log, then the copy is put back exactly as
the snapshot (``git checkout`` and ``git clean -dfx``: the mutated file, and anything a test wrote in
the copy), every module of the project's that the session imported is forgotten (a test module
that read a macro when imported reads the next mutant's; libraries stay, see :func:`_to_forget`),
and the environment and working directory are restored.
The parent enforces the timeout by ending the worker's process group and starting another.

What a session costs beyond its tests is cut where the result cannot change: pytest's assertion
rewriting of a test module is kept in memory by the module's path and bytes (the same bytes give the
same code; without a bytecode cache, as under PYTHONDONTWRITEBYTECODE or in a copy that ``git clean``
empties, it was most of each session's collection), and what the worker imported before its first
session is frozen out of the garbage collector's sight (``gc.freeze``: pytest collects garbage
several times at the end of a session, each pass walking dbt's and pytest's whole heap).

**One PostgreSQL server per worker.** The harness's ``tenant_server`` fixture starts an embedded
server per session (initdb and a start: 2-9 s on a busy machine). In a worker the first session's
embedded server is kept for the next ones (:class:`SharedServer`): the fixture gets the same
:class:`~tenant_harness.server.EmbeddedServer` object (its ``stop`` is a no-op), and after each
session every connection it left open is ended, every database and role it left is dropped, then
the server's state (databases, roles, the ``postgres`` and ``template1`` databases' catalogs,
settings) is compared with the state it had when it started. Anything else left behind, or a
server that no longer answers, and the server is stopped: the next session starts a new one. A DSN
or another backend is passed through.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

# Everything a session can leave in a cluster that a drop of its databases and roles does not remove.
_DATABASE_STATE = """
select md5(coalesce(string_agg(x, ',' order by x), '')) from (
    select concat('c', oid, ':', relkind, relrowsecurity, relacl) from pg_class
    union all select concat('p', oid, ':', proacl) from pg_proc
    union all select concat('n', oid, ':', nspacl) from pg_namespace
    union all select concat('t', oid) from pg_type
    union all select concat('e', oid) from pg_extension
    union all select concat('d', oid) from pg_default_acl
    union all select concat('g', oid) from pg_event_trigger
    union all select concat('o', oid) from pg_operator
) s(x)
"""
_CLUSTER_STATE = """
select md5(concat_ws('|',
    (select string_agg(concat(datname, ':', datistemplate, datallowconn, datconnlimit, datacl), ','
                       order by datname) from pg_database),
    (select string_agg(concat(rolname, ':', rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
                              rolbypassrls, rolconnlimit), ',' order by rolname) from pg_roles),
    (select string_agg(concat(roleid, ':', member), ',' order by roleid, member) from pg_auth_members),
    (select string_agg(concat(setdatabase, ':', setrole, ':', setconfig), ',' order by setdatabase, setrole)
     from pg_db_role_setting),
    (select string_agg(spcname, ',' order by spcname) from pg_tablespace),
    (select string_agg(concat(objoid, ':', description), ',' order by objoid) from pg_shdescription),
    (select string_agg(concat(name, '=', setting), ',' order by name) from pg_settings where source <> 'session')
))
"""


class SharedServer:
    """The embedded server this worker's sessions share (see the module docstring)."""

    def __init__(self) -> None:
        self.server = None
        self._state: str | None = None
        self._databases: set[str] = set()
        self._roles: set[str] = set()

    def install(self) -> None:
        """Hand :meth:`get` to the harness's ``tenant_server`` fixture for the default backend."""
        from tenant_harness import plugin

        start_server = plugin.start_server

        def shared_start_server(*, backend: str = "embedded", dsn: str | None = None, detached: bool = False):
            if dsn or backend != "embedded" or detached:
                return start_server(backend=backend, dsn=dsn, detached=detached)
            return self.get()

        plugin.start_server = shared_start_server

    def get(self):
        if self.server is None:
            from tenant_harness.server import EmbeddedServer

            server = EmbeddedServer().start()
            server.stop = _kept  # the fixture's stop; the worker stops it (stop_for_good)
            self.server = server
            with self._connect("postgres") as conn:
                self._databases = {r[0] for r in conn.execute("select datname from pg_database")}
                self._roles = {r[0] for r in conn.execute("select rolname from pg_roles")}
            self._state = self._snapshot()
        return self.server

    def _connect(self, dbname: str):
        import psycopg

        return psycopg.connect(self.server.endpoint.conninfo(dbname), autocommit=True, connect_timeout=10)

    def _snapshot(self) -> str:
        parts = []
        with self._connect("postgres") as conn:
            parts.append(conn.execute(_CLUSTER_STATE).fetchone()[0])
            parts.append(conn.execute(_DATABASE_STATE).fetchone()[0])
        with self._connect("template1") as conn:
            parts.append(conn.execute(_DATABASE_STATE).fetchone()[0])
        return "/".join(parts)

    def reset(self) -> None:
        """Drop what the session left; a server that is not back to its first state goes."""
        if self.server is None:
            return
        try:
            from psycopg import sql

            with self._connect("postgres") as conn:
                # Connections the session left open (a test's, never closed): no next session sees them.
                conn.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                             "where pid <> pg_backend_pid() and backend_type = 'client backend'")  # fmt: skip
                for (name,) in conn.execute("select datname from pg_database").fetchall():
                    if name not in self._databases:
                        conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))
                roles = [r for (r,) in conn.execute("select rolname from pg_roles").fetchall() if r not in self._roles]
            for dbname in ("postgres", "template1"):
                with self._connect(dbname) as conn:
                    for role in roles:
                        conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(role)))
            with self._connect("postgres") as conn:
                for role in roles:
                    conn.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))
            clean = self._snapshot() == self._state
        except Exception as exc:  # a server that died or refuses: a new one for the next session
            print(f"tenant-harness mutate worker: a new server for the next session ({exc})", file=sys.stderr)
            clean = False
        if not clean:
            self.stop_for_good()

    def stop_for_good(self) -> None:
        if self.server is not None:
            server, self.server = self.server, None
            type(server).stop(server)


def _kept() -> None:
    """The shared server's ``stop`` in the sessions: it outlives them."""


def _to_forget(new: set[str], copy: Path) -> list[str]:
    """Of the modules a session imported, those to import afresh in the next one: the project's own
    (a file in the copy or its temporary folder: test modules, conftests, test helpers, which may
    read a macro when imported; modules without a file), and the plugin that records the session.
    Libraries stay: importing one again makes new classes that the rest of the process, which kept
    the old ones, does not know (``psycopg2.errors`` forgotten broke the next session's dbt
    connections, and so made false kills)."""
    roots = (str(copy) + os.sep, str(copy.with_name(copy.name + ".tmp")) + os.sep)
    forget = []
    for name in new:
        module = sys.modules.get(name)
        where = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", None) or ()), None)
        if name == _PLUGIN or where is None or os.path.abspath(where).startswith(roots):
            forget.append(name)
    return forget


_PLUGIN = "tenant_harness.mutate.pytest_order"  # its state is one session's


def _reset(copy: Path) -> None:
    # .scratch: the embedded servers' folder when there is no /dev/shm (Workspace.scratch).
    for args in (["checkout", "-q", "--", "."], ["clean", "-q", "-d", "-f", "-x", "-e", ".scratch"]):
        subprocess.run(["git", "-C", str(copy), *args], check=True, capture_output=True)


def _remember_rewritten_tests() -> None:
    """Keep pytest's rewritten code of each test module by (path, bytes, the one ini option the
    rewriting reads): a module whose bytes changed is rewritten again."""
    from _pytest.assertion import rewrite

    rewrite_test = rewrite._rewrite_test
    done: dict[tuple, tuple] = {}

    def remembered(fn, config):
        key = (str(fn), fn.read_bytes(), bool(config.getini("enable_assertion_pass_hook")) if config else False)
        if key not in done:
            done[key] = rewrite_test(fn, config)
        return done[key]

    rewrite._rewrite_test = remembered


def main(args: list[str]) -> int:
    import pytest

    # What every session needs, imported once: pytest's plugins, the harness's, dbt, Hypothesis.
    from tenant_harness import plugin  # noqa: F401

    try:
        import dbt.cli.main  # noqa: F401
        import hypothesis  # noqa: F401
    except ImportError:
        pass
    _remember_rewritten_tests()
    shared = SharedServer()
    shared.install()
    gc.collect()
    gc.freeze()
    copy = Path.cwd()
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    option = "-p tenant_harness.mutate.pytest_order"
    os.environ["PYTEST_ADDOPTS"] = os.environ.get("PYTEST_ADDOPTS", "").replace(option, "").strip()
    environ = dict(os.environ)
    baseline = set(sys.modules)
    for line in sys.stdin:
        request = json.loads(line)
        path = copy / request["file"]
        path.write_text(request["text"])
        os.environ["TENANT_HARNESS_MUTATE_PLAN"] = request["plan"]
        os.environ["TENANT_HARNESS_MUTATE_RESULT"] = request["result"]
        saved = (os.dup(1), os.dup(2))
        with open(request["log"], "w") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                rc = int(pytest.main([*args, "-p", "tenant_harness.mutate.pytest_order"]))
            except BaseException as exc:  # a test that exits the process, or anything pytest lets through
                print(f"tenant-harness mutate worker: {type(exc).__name__}: {exc}", file=sys.stderr)
                rc = 3
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                for fd in saved:
                    os.close(fd)
        for name in _to_forget(set(sys.modules) - baseline, copy):
            del sys.modules[name]
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(copy)
        shared.reset()
        _reset(copy)
        answers.write(json.dumps({"rc": rc}) + "\n")
    shared.stop_for_good()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
