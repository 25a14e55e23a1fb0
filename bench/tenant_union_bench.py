"""Benchmark: the tenant_union materialization against the raw floor, dbt's own cost and the seed design.

    python bench/tenant_union_bench.py [--quick] [--out bench/out]

One embedded PostgreSQL with DEFAULT settings (max_locks_per_transaction=64 and so on). Per scenario
(tenants x rows per tenant) a fresh database is loaded with generate_tenants, then measured:

- floor: per batch of 100 tenants one INSERT ... SELECT <all_users cleaning> FROM (<union all>),
  each its own transaction, through psycopg (the first batch CREATE TABLE AS): the raw minimum;
- tenant_union: the project's all_users model via dbt: compile time, full build (--full-refresh)
  run and model time, and an incremental rerun with nothing changed;
- dbt's own cost, in the same project, process and database (bench/baselines/, copied into the
  project copy): dbt's `table` materialization of `select 1 as x` (what any model costs), and of
  all_users' union of every tenant as one plain statement (what any dbt model of this work costs);
- seed design: bench/seed_design, the original guide's one-statement CTE-batched `table` model with
  one adapter.get_relation catalog query per tenant. Its failures are recorded, never hidden.

Timings are the median of 3 runs when a run takes < 10 s, else of 1 run. Row counts are checked
against the generator's ground truth. dbt/ is copied once per run (--ref: from a commit). Writes
<out>/results.json and <out>/tenant_union.png. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tenant_harness.database import create_database, drop_database  # noqa: E402
from tenant_harness.errors import DbtRunError  # noqa: E402
from tenant_harness.runner import DbtProject  # noqa: E402
from tenant_harness.server import EmbeddedServer  # noqa: E402
from tenant_harness.tenants import USERS_COLUMNS, generate_tenants  # noqa: E402

SCENARIOS = [(100, 2), (100, 1000), (1000, 2), (1000, 1000), (10000, 2)]
QUICK_SCENARIOS = SCENARIOS[:3]
# Opt-in (--scale): about 4 more minutes on an idle 2-core machine, and 200,000 relations in memory.
SCALE_SCENARIO = (50000, 2)
SCALE_BASE = (10000, 2)  # the scenario SCALE_SCENARIO's cost per tenant is compared with
# From the issue: the most tenant_union model time may be, as a multiple of the floor.
TARGETS = {(10000, 2): 1.2, (1000, 2): 1.5, (100, 2): 2.0, (1000, 1000): 1.1}
# From the issue: the most the model's cost per tenant may be, as a multiple of SCALE_BASE's.
PER_TENANT_TARGETS = {SCALE_SCENARIO: 1.3}
MIN_SCHEMAS_PER_S = {SCALE_SCENARIO: 2000}  # generation speed the issue asks for
BATCH_SIZE = 100
REPEAT_BELOW_S = 10.0
REPEATS = 3
SCHEMA = "analytics"  # where both dbt projects build (profiles.yml: DBT_PG_SCHEMA)
SEED_DIR = Path(__file__).resolve().parent / "seed_design"
# Models copied into the project copy's models/bench_baselines/: dbt's fixed cost, measured beside all_users.
BASELINES_DIR = Path(__file__).resolve().parent / "baselines"
TRIVIAL_MODEL = "bench_dbt_trivial"
PLAIN_MODEL = "bench_dbt_plain_table"
PLAIN_MAX_TENANTS = 10000  # past this the one-statement models only spend time before they fail
DBT_VARS = {"tenant_processing": {"max_tenant_limit": 100000, "batch_size": BATCH_SIZE}}
FLOOR_TABLE = sql.Identifier("bench_floor", "all_users")

# The select of dbt/models/marts/all_users.sql, over the union of one batch.
CLEANING = sql.SQL("""select
    u.tenant_id, u.user_id, lower(trim(u.email)) as email, trim(u.first_name) as first_name,
    trim(u.last_name) as last_name, u.registration_date, u.last_login_date,
    upper(trim(u.account_status)) as account_status,
    lower(trim(u.subscription_tier)) as subscription_tier,
    u.created_at, u.updated_at, current_timestamp as dbt_loaded_at
from (
{union}
) as u
where u.user_id is not null and u.email is not null""")


# ---------------------------------------------------------------------------------------------
# measurements: each returns a dict of numbers (seconds, rows) or {"failed": message}


def floor_statements(conn: psycopg.Connection, tenants: list[str]) -> list[str]:
    """One statement per batch of BATCH_SIZE tenants; built before timing starts."""
    cols = sql.SQL(", ").join(map(sql.Identifier, USERS_COLUMNS))
    statements = []
    for start in range(0, len(tenants), BATCH_SIZE):
        union = sql.SQL("\nunion all\n").join(
            sql.SQL("select cast({} as varchar(128)) as tenant_id, {} from {}").format(
                sql.Literal(name), cols, sql.Identifier(name, "users")
            )
            for name in tenants[start : start + BATCH_SIZE]
        )
        head = sql.SQL("create table {} as\n" if start == 0 else "insert into {}\n")
        statement = head.format(FLOOR_TABLE) + CLEANING.format(union=union)
        statements.append(statement.as_string(conn))
    return statements


def run_floor(conninfo: str, statements: list[str], expected_rows: int) -> dict:
    with psycopg.connect(conninfo, autocommit=True) as conn:  # autocommit: one transaction each
        conn.execute("create schema if not exists bench_floor")
        conn.execute(sql.SQL("drop table if exists {}").format(FLOOR_TABLE))
        started = time.perf_counter()
        for statement in statements:
            conn.execute(statement)
        seconds = time.perf_counter() - started
        rows = conn.execute(sql.SQL("select count(*) from {}").format(FLOOR_TABLE)).fetchone()[0]
    check_rows("floor", rows, expected_rows)
    return {"seconds": seconds, "rows": rows}


def run_tenant_union_compile(project: DbtProject) -> dict:
    # --log-level none: with one node selected, dbt compile prints the compiled SQL even in --quiet
    # (megabytes at 10,000 tenants); the log file keeps its default debug level.
    result = project.invoke("compile", "--select", "all_users", "--log-level", "none")
    return {"compile_seconds": result.seconds}


def run_tenant_union(project: DbtProject, conninfo: str, expected: int, *, full: bool) -> dict:
    """A full build (--full-refresh: the model is incremental by default, and a rerun on an
    unchanged table would read one row per tenant), or an incremental rerun with nothing changed."""
    result = project.run("all_users", full_refresh=full)
    rows = count_rows(conninfo, "all_users")
    check_rows("tenant_union" + ("" if full else " incremental"), rows, expected)
    seconds = result.node("all_users").seconds
    return {"seconds": seconds, "run_seconds": result.seconds, "rows": rows}


def run_dbt_trivial(project: DbtProject, conninfo: str) -> dict:
    """dbt's `table` materialization of one constant row: dbt's fixed cost per model (node time)."""
    result = project.run(TRIVIAL_MODEL)
    check_rows("dbt trivial model", count_rows(conninfo, TRIVIAL_MODEL), 1)
    return {"seconds": result.node(TRIVIAL_MODEL).seconds}


def run_seed(
    project: DbtProject, endpoint, dbname: str, expected: int, cap_s: float, model: str = "all_users_seed"
) -> dict:
    """A `table` model over every tenant in one statement (the seed design's, or the plain one),
    capped at cap_s; a failure is returned with the database's first error line."""
    started = time.perf_counter()
    with time_cap(endpoint, dbname, cap_s) as fired:
        try:
            result = project.run(model)
        except DbtRunError as exc:
            elapsed = time.perf_counter() - started
            message = failure_line(exc)
            if fired.is_set():
                message = f"time cap {cap_s:.0f} s exceeded ({message})"
            return {"failed": message, "after_seconds": elapsed, "error": str(exc)}
    rows = count_rows(endpoint.conninfo(dbname), model)
    check_rows(model, rows, expected)
    seconds = result.node(model).seconds
    return {"seconds": seconds, "run_seconds": result.seconds, "rows": rows}


@contextlib.contextmanager
def time_cap(endpoint, dbname: str, cap_s: float):
    """After cap_s, terminate every other session on dbname (i.e. dbt's), so the run ends."""
    fired = threading.Event()

    def terminate():
        fired.set()
        with psycopg.connect(endpoint.conninfo(), autocommit=True) as conn:
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
                (dbname,),
            )

    timer = threading.Timer(cap_s, terminate)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def failure_line(exc: DbtRunError) -> str:
    """The first line of the database's error, not dbt's 'Database Error in ...' (the whole
    message, HINT included, is kept under "error" in results.json)."""
    result = exc.result
    text = "\n".join(n.message or "" for n in result.failed_nodes) if result else ""
    text = text or (result.error if result and result.error else "") or str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    noise = ("Database Error in", "compiled code at", "dbt ")
    lines = [line for line in lines if not line.startswith(noise)]
    return lines[0] if lines else str(exc).splitlines()[0]


def checkpoint(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("checkpoint")


def count_rows(conninfo: str, table: str) -> int:
    with psycopg.connect(conninfo) as conn:
        query = sql.SQL("select count(*) from {}").format(sql.Identifier(SCHEMA, table))
        return conn.execute(query).fetchone()[0]


def check_rows(what: str, rows: int, expected: int) -> None:
    if rows != expected:
        raise AssertionError(f"{what}: {rows} rows, the truth says {expected}")


# ---------------------------------------------------------------------------------------------
# driver


def measure_rounds(measures: dict, checkpoint) -> dict:
    """Run every measure once; those whose run took < REPEAT_BELOW_S run REPEATS times in all.

    Rounds are interleaved (floor, compile, model, seed, floor, ...) so background work such as
    autovacuum hits all of them alike, and each run starts after a CHECKPOINT so none pays for
    writing out the previous one's dirty buffers. Each key is reported as its median.
    """
    samples: dict[str, list[dict]] = {name: [] for name in measures}
    for round_no in range(REPEATS):
        for name, fn in measures.items():
            done = samples[name]
            if round_no > 0 and ("failed" in done[0] or slowest(done[0]) >= REPEAT_BELOW_S):
                continue
            checkpoint()  # untimed: write out the previous measure's dirty buffers
            done.append(fn())
    out = {}
    for name, runs in samples.items():
        if "failed" in runs[0]:
            out[name] = runs[0]
            continue
        out[name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        out[name]["samples"] = [r.get("seconds", r.get("compile_seconds")) for r in runs]
    return out


def slowest(sample: dict) -> float:
    return max(v for k, v in sample.items() if k.endswith("seconds"))


def run_scenario(server, tenants: int, rows: int, *, project_dir: Path, seed_mode: str, cap_s: float, log) -> dict:
    endpoint = server.endpoint
    dbname = f"bench_{tenants}x{rows}"
    conninfo = endpoint.conninfo(dbname)
    drop_database(endpoint, dbname)
    create_database(endpoint, dbname)
    try:
        log(f"[bold]{tenants} x {rows}[/]: generating")
        started = time.perf_counter()
        truth = generate_tenants(conninfo, tenants, rows)
        gen_s = time.perf_counter() - started
        result = {
            "scenario": f"{tenants} x {rows}", "tenants": tenants, "rows_per_tenant": rows,
            "source_rows": truth.source_rows, "kept_rows": truth.kept_rows,
            "generation": {
                "seconds": gen_s, "rows_per_s": truth.source_rows / gen_s,
                "schemas_per_s": tenants / gen_s,
            },
        }  # fmt: skip
        with psycopg.connect(conninfo, autocommit=True) as conn:
            statements = floor_statements(conn, truth.names)
            # Untimed: hint bits, visibility map and statistics set once, as on long-lived tenant
            # tables, so that whichever measure runs first does not pay for them.
            vacuum_started = time.perf_counter()
            conn.execute("vacuum analyze")
            result["vacuum_analyze_seconds"] = time.perf_counter() - vacuum_started
        env = {**endpoint.dbt_env(dbname), "DBT_PG_SCHEMA": SCHEMA}
        seed_env = {**env, "PGOPTIONS": f"-c statement_timeout={int(cap_s * 1000)}"}
        with (
            DbtProject(project_dir=project_dir, env=env, vars=DBT_VARS, quiet=True) as project,
            DbtProject(project_dir=SEED_DIR, env=seed_env, quiet=True) as seed_project,
        ):
            project.invoke("parse")  # untimed: later commands parse partially
            seed_project.invoke("parse")
            expected = truth.kept_rows
            measures = {
                "floor": lambda: run_floor(conninfo, statements, expected),
                "compile": lambda: run_tenant_union_compile(project),
                "tenant_union": lambda: run_tenant_union(project, conninfo, expected, full=True),
                "incremental": lambda: run_tenant_union(project, conninfo, expected, full=False),
                "dbt_trivial": lambda: run_dbt_trivial(project, conninfo),
            }
            if tenants <= PLAIN_MAX_TENANTS:
                measures["dbt_plain"] = lambda: run_seed(project, endpoint, dbname, expected, cap_s, model=PLAIN_MODEL)
            if seed_mode == "run":
                measures["seed"] = lambda: run_seed(seed_project, endpoint, dbname, expected, cap_s)
            log(f"[bold]{tenants} x {rows}[/]: measuring {', '.join(measures)}")
            result.update(measure_rounds(measures, lambda: checkpoint(conninfo)))
        if seed_mode != "run":
            result["seed"] = {"skipped": seed_mode}
        if tenants > PLAIN_MAX_TENANTS:
            result["dbt_plain"] = {"skipped": f"fails at {PLAIN_MAX_TENANTS:,} (max_locks_per_transaction)"}
        floor_s = result["floor"]["seconds"]
        result["ratio_tenant_union"] = result["tenant_union"]["seconds"] / floor_s
        # dbt's own cost against the same floor: no dbt model goes below these ratios.
        result["ratio_dbt_trivial"] = result["dbt_trivial"]["seconds"] / floor_s
        plain_s = result["dbt_plain"].get("seconds")
        result["ratio_dbt_plain"] = plain_s / floor_s if plain_s is not None else None
        # A rerun with nothing changed against the full build, both model times of this run.
        result["ratio_rerun"] = result["incremental"]["seconds"] / result["tenant_union"]["seconds"]
        seed_s = result["seed"].get("seconds")
        result["ratio_seed"] = seed_s / floor_s if seed_s is not None else None
        target = TARGETS.get((tenants, rows))
        if target is not None:
            result["target"] = {"max_ratio": target, "met": result["ratio_tenant_union"] <= target}
        return result
    finally:
        drop_database(endpoint, dbname)


def per_tenant_ratios(results: list[dict]) -> None:
    """For each scenario with a per-tenant target: the model's seconds per tenant as a multiple of
    SCALE_BASE's in the same run, and whether generation kept its schemas/s."""
    base = next((r for r in results if (r["tenants"], r["rows_per_tenant"]) == SCALE_BASE), None)
    for r in results:
        key = (r["tenants"], r["rows_per_tenant"])
        if key not in PER_TENANT_TARGETS:
            continue
        if base is not None:
            ratio = (r["tenant_union"]["seconds"] / r["tenants"]) / (base["tenant_union"]["seconds"] / base["tenants"])
            r["per_tenant_vs_base"] = {"base": base["scenario"], "ratio": ratio}
            r["per_tenant_target"] = {"max_ratio": PER_TENANT_TARGETS[key], "met": ratio <= PER_TENANT_TARGETS[key]}
        floor = MIN_SCHEMAS_PER_S[key]
        r["schemas_per_s_target"] = {"min": floor, "met": r["generation"]["schemas_per_s"] >= floor}


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout


@contextlib.contextmanager
def project_snapshot(ref: str | None):
    """A private copy of dbt/ for the whole run, the working tree's or commit ``ref``'s, so that
    edits made while the benchmark runs cannot mix two versions into one table of results."""
    with tempfile.TemporaryDirectory(prefix="tenant-union-bench-") as tmp:
        if ref:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", ref, "dbt"], capture_output=True, check=True
            ).stdout
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(tmp, filter="data")
        else:
            ignore = shutil.ignore_patterns("target", "logs", "dbt_packages")
            shutil.copytree(ROOT / "dbt", Path(tmp) / "dbt", ignore=ignore)
        shutil.copytree(BASELINES_DIR, Path(tmp) / "dbt" / "models" / "bench_baselines")
        yield Path(tmp) / "dbt"


def project_state(ref: str | None) -> dict:
    """What was measured: the commit, and uncommitted changes when the working tree was copied."""
    state = {"commit": git("rev-parse", "--short", ref or "HEAD").strip()}
    paths = ["tenant_harness"] if ref else ["dbt", "tenant_harness"]  # the harness: working tree
    state["uncommitted"] = git("status", "--porcelain", *paths).splitlines()
    state["load_average_at_start"] = os.getloadavg()  # other work on the machine skews timings
    return state


def server_settings(server) -> dict:
    names = ["server_version", "max_locks_per_transaction", "max_connections", "shared_buffers"]
    query = "select name, setting, unit from pg_settings where name = any(%s)"
    with psycopg.connect(server.conninfo()) as conn:
        rows = conn.execute(query, (names,))
        return {name: f"{setting}{' x ' + unit if unit else ''}" for name, setting, unit in rows}


# ---------------------------------------------------------------------------------------------
# output


def seed_cell(seed: dict) -> str:
    if "failed" in seed:
        return f"[red]failed: {seed['failed']} (after {seed['after_seconds']:.0f} s)[/]"
    if "skipped" in seed:
        return f"[yellow]skipped: {seed['skipped']}[/]"
    return f"{seed['seconds']:.2f}"


def plain_cell(plain: dict) -> str:
    if "seconds" in plain:
        return f"{plain['seconds']:.3f}"
    return seed_cell(plain)


def print_table(console, results: list[dict]) -> None:
    from rich.table import Table

    table = Table(title="tenant_union benchmark (seconds; median of 3 when < 10 s)")
    for col in (
        "scenario", "generation s (rows/s)", "floor s", "dbt trivial s", "dbt plain table s",
        "tenant_union model s", "dbt run s", "compile s", "trivial / floor", "plain / floor",
        "tenant_union / floor", "per tenant vs 10000 x 2", "incremental rerun s", "rerun / full build",
        "seed design s",
        "seed / floor",
    ):  # fmt: skip
        table.add_column(col, justify="left" if col in ("scenario", "seed design s", "dbt plain table s") else "right")
    for r in results:
        ratio = f"{r['ratio_tenant_union']:.2f}x"
        if "target" in r:
            met, limit = r["target"]["met"], r["target"]["max_ratio"]
            verdict = "[green]met[/]" if met else "[red]MISSED[/]"
            ratio += f" (target <= {limit}x: {verdict})"
        gen = r["generation"]
        generation = f"{gen['seconds']:.2f} ({gen['rows_per_s']:,.0f} rows/s, {gen['schemas_per_s']:,.0f} schemas/s)"
        if "schemas_per_s_target" in r:
            met = r["schemas_per_s_target"]["met"]
            generation += f" (>= {r['schemas_per_s_target']['min']:,}: {'[green]met[/]' if met else '[red]MISSED[/]'})"
        per_tenant = "-"
        if "per_tenant_vs_base" in r:
            per_tenant = f"{r['per_tenant_vs_base']['ratio']:.2f}x"
            met, limit = r["per_tenant_target"]["met"], r["per_tenant_target"]["max_ratio"]
            per_tenant += f" (target <= {limit}x: {'[green]met[/]' if met else '[red]MISSED[/]'})"
        elif (r["tenants"], r["rows_per_tenant"]) in PER_TENANT_TARGETS:
            per_tenant = "no 10000 x 2 in this run"
        table.add_row(
            r["scenario"],
            generation,
            f"{r['floor']['seconds']:.3f}",
            f"{r['dbt_trivial']['seconds']:.3f}",
            plain_cell(r["dbt_plain"]),
            f"{r['tenant_union']['seconds']:.3f}",
            f"{r['tenant_union']['run_seconds']:.2f}",
            f"{r['compile']['compile_seconds']:.2f}",
            f"{r['ratio_dbt_trivial']:.2f}x",
            f"{r['ratio_dbt_plain']:.2f}x" if r["ratio_dbt_plain"] is not None else "-",
            ratio,
            per_tenant,
            f"{r['incremental']['seconds']:.3f}",
            f"{r['ratio_rerun']:.2f}x",
            seed_cell(r["seed"]),
            f"{r['ratio_seed']:.2f}x" if r["ratio_seed"] is not None else "-",
        )
    console.print(table)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [
        ("floor (psycopg)", "#888888", "floor"),
        ("dbt table: select 1", "#bbbbbb", "dbt_trivial"),
        ("dbt table: the union, one statement", "#2ca02c", "dbt_plain"),
        ("tenant_union model", "#1f77b4", "tenant_union"),
        ("seed design model", "#ff7f0e", "seed"),
    ]
    series = [(name, color, key, [r[key].get("seconds") for r in results]) for name, color, key in series]
    width = 0.17
    fig, ax = plt.subplots(figsize=(12, 5.5))
    for i, (name, color, key, values) in enumerate(series):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(results))]
        ax.bar(xs, [v or 0 for v in values], width, label=name, color=color)
        for x, v, r in zip(xs, values, results, strict=True):
            if v is not None:
                ax.annotate(f"{v:.2g}", (x, v), ha="center", va="bottom", fontsize=6)
                continue
            seed = r[key]  # only the one-statement models can have no time
            if "failed" in seed:
                after = seed["after_seconds"]
                ax.bar(x, after, width, color="none", edgecolor="red", hatch="//")
                label = f"FAILED\nafter {after:.0f} s"
                ax.annotate(label, (x, after), ha="center", va="bottom", fontsize=7, color="red")
            else:
                ax.annotate("skipped", (x, 0.01), ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_yscale("log")
    tops = [v for _, _, _, vs in series for v in vs if v]
    tops += [r[key].get("after_seconds", 0) for r in results for key in ("seed", "dbt_plain")]
    ax.set_ylim(top=max(tops) * 4)  # room for the labels above the bars
    ticks = [f"{r['scenario']}\n({r['kept_rows']:,} rows)" for r in results]
    ax.set_xticks(range(len(results)), ticks)
    ax.set_xlabel("tenants x rows per tenant")
    ax.set_ylabel("seconds (log scale; lower is better)")
    ax.set_title("all_users build time on default PostgreSQL settings (red hatched = failed)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only 100x2, 100x1000, 1000x2")
    parser.add_argument("--scale", action="store_true", help="add 50000x2 (and 10000x2, its baseline)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    parser.add_argument("--scenarios", nargs="+", metavar="NxR", help="e.g. 1000x2 10000x2")
    parser.add_argument(
        "--seed-cap", type=float, default=300.0, help="seconds per one-statement model run (seed, plain table)"
    )
    parser.add_argument("--no-seed", action="store_true", help="do not run the seed design")
    parser.add_argument("--ref", help="measure dbt/ as in this git commit (default: working tree)")
    args = parser.parse_args(argv)
    if args.scenarios:
        scenarios = [tuple(int(p) for p in s.lower().split("x")) for s in args.scenarios]
    else:
        scenarios = QUICK_SCENARIOS if args.quick else SCENARIOS

    from rich.console import Console

    console = Console(width=max(200, shutil.get_terminal_size().columns))
    if args.scale:
        scenarios = [s for s in scenarios if s not in (SCALE_BASE, SCALE_SCENARIO)] + [SCALE_BASE, SCALE_SCENARIO]
    results = []
    started = time.perf_counter()
    measured = project_state(args.ref)
    with project_snapshot(args.ref) as project_dir, EmbeddedServer().start() as server:
        settings = server_settings(server)
        console.log(f"PostgreSQL {settings['server_version']} (default settings): {settings}")
        console.log(f"measuring a copy of dbt/ at {measured}")
        for tenants, rows in scenarios:
            seed_mode = "run"
            if args.no_seed:
                seed_mode = "--no-seed"
            elif args.quick and tenants >= 10000:
                seed_mode = "--quick (expected to fail on max_locks_per_transaction)"
            if tenants > 10000:
                seed_mode = "fails at 10,000 (max_locks_per_transaction)"
            result = run_scenario(
                server, tenants, rows, project_dir=project_dir, seed_mode=seed_mode,
                cap_s=args.seed_cap, log=console.log,
            )  # fmt: skip
            results.append(result)
    per_tenant_ratios(results)
    print_table(console, results)

    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "server": settings,
        "project": measured,
        "load_average_at_end": os.getloadavg(),
        "batch_size": BATCH_SIZE,
        "repeat_rule": f"median of {REPEATS} runs if one takes < {REPEAT_BELOW_S:.0f} s, else 1",
        "total_seconds": time.perf_counter() - started,
        "scenarios": results,
    }
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, args.out / "tenant_union.png")
    console.log(f"wrote {args.out / 'results.json'} and {args.out / 'tenant_union.png'}")
    missed = [r["scenario"] for r in results if not r.get("target", {}).get("met", True)]
    missed += [r["scenario"] + " (per tenant)" for r in results if not r.get("per_tenant_target", {}).get("met", True)]
    if missed:
        console.log(f"[red]tenant_union missed its target at: {', '.join(missed)}[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
