"""Benchmark: the tenant_union materialization against the raw floor and the seed design.

    python bench/tenant_union_bench.py [--quick] [--out bench/out]

One embedded PostgreSQL with DEFAULT settings (max_locks_per_transaction=64 and so on). Per scenario
(tenants x rows per tenant) a fresh database is loaded with generate_tenants, then measured:

- floor: per batch of 100 tenants one INSERT ... SELECT <all_users cleaning> FROM (<union all>),
  each its own transaction, through psycopg (the first batch CREATE TABLE AS): the raw minimum;
- tenant_union: the project's all_users model via dbt (compile time, run time, model time);
- seed design: bench/seed_design, the original guide's one-statement CTE-batched `table` model with
  one adapter.get_relation catalog query per tenant. Its failures are recorded, never hidden.

Timings are the median of 3 runs when a run takes < 10 s, else of 1 run. Row counts are checked
against the generator's ground truth. Writes <out>/results.json and <out>/tenant_union.png.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
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
TARGETS = {(10000, 2): 1.5, (1000, 1000): 1.15}  # max tenant_union model time / floor, from the issue
BATCH_SIZE = 100
REPEAT_BELOW_S = 10.0
REPEATS = 3
SCHEMA = "analytics"  # where both dbt projects build (profiles.yml: DBT_PG_SCHEMA)
SEED_DIR = Path(__file__).resolve().parent / "seed_design"
DBT_VARS = {"tenant_processing": {"max_tenant_limit": 20000, "batch_size": BATCH_SIZE}}
FLOOR_TABLE = sql.Identifier("bench_floor", "all_users")

# The select of dbt/models/marts/all_users.sql, over the union of one batch.
CLEANING = sql.SQL("""select
    u.tenant_id, u.user_id, lower(trim(u.email)) as email, trim(u.first_name) as first_name,
    trim(u.last_name) as last_name, u.registration_date, u.last_login_date,
    upper(trim(u.account_status)) as account_status, lower(trim(u.subscription_tier)) as subscription_tier,
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
        head = sql.SQL("create table {} as\n" if start == 0 else "insert into {}\n").format(FLOOR_TABLE)
        statements.append((head + CLEANING.format(union=union)).as_string(conn))
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
    return {"compile_seconds": project.invoke("compile", "--select", "all_users", "--log-level", "none").seconds}


def run_tenant_union(project: DbtProject, conninfo: str, expected_rows: int) -> dict:
    result = project.run("all_users")
    rows = count_rows(conninfo, "all_users")
    check_rows("tenant_union", rows, expected_rows)
    return {"seconds": result.node("all_users").seconds, "run_seconds": result.seconds, "rows": rows}


def run_seed(project: DbtProject, endpoint, dbname: str, expected_rows: int, cap_s: float) -> dict:
    started = time.perf_counter()
    with time_cap(endpoint, dbname, cap_s) as fired:
        try:
            result = project.run("all_users_seed")
        except DbtRunError as exc:
            elapsed = time.perf_counter() - started
            message = failure_line(exc)
            if fired.is_set():
                message = f"time cap {cap_s:.0f} s exceeded ({message})"
            return {"failed": message, "after_seconds": elapsed, "error": str(exc)}
    rows = count_rows(endpoint.conninfo(dbname), "all_users_seed")
    check_rows("seed design", rows, expected_rows)
    return {"seconds": result.node("all_users_seed").seconds, "run_seconds": result.seconds, "rows": rows}


@contextlib.contextmanager
def time_cap(endpoint, dbname: str, cap_s: float):
    """After cap_s, terminate every other session on dbname (i.e. dbt's), so the run ends."""
    fired = threading.Event()

    def terminate():
        fired.set()
        with psycopg.connect(endpoint.conninfo(), autocommit=True) as conn:
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity"
                " where datname = %s and pid <> pg_backend_pid()",
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
    """The first line of the database's error (plus its HINT), not dbt's 'Database Error in ...'."""
    result = exc.result
    text = "\n".join(n.message or "" for n in result.failed_nodes) if result else ""
    text = text or (result.error if result and result.error else "") or str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Database Error in", "compiled code at", "dbt "))]
    if not lines:
        return str(exc).splitlines()[0]
    hint = next((ln for ln in lines[1:] if ln.startswith("HINT")), None)
    return lines[0] + (f" ({hint})" if hint else "")


def checkpoint(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("checkpoint")


def count_rows(conninfo: str, table: str) -> int:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(SCHEMA, table))).fetchone()[0]


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
            if round_no > 0 and (not done or "failed" in done[0] or slowest(done[0]) >= REPEAT_BELOW_S):
                continue
            checkpoint()  # untimed: write out the previous measure's dirty buffers
            done.append(fn())
    out = {}
    for name, runs in samples.items():
        if not runs:
            continue
        if "failed" in runs[0] or "skipped" in runs[0]:
            out[name] = runs[0]
            continue
        out[name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        out[name]["samples"] = [r.get("seconds", r.get("compile_seconds")) for r in runs]
    return out


def slowest(sample: dict) -> float:
    return max(v for k, v in sample.items() if k.endswith("seconds"))


def run_scenario(server, tenants: int, rows: int, *, seed_mode: str, cap_s: float, log) -> dict:
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
                "seconds": gen_s, "rows_per_s": truth.source_rows / gen_s, "schemas_per_s": tenants / gen_s,
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
            DbtProject(env=env, vars=DBT_VARS, quiet=True) as project,
            DbtProject(project_dir=SEED_DIR, env=seed_env, quiet=True) as seed_project,
        ):
            project.invoke("parse")  # untimed: later commands parse partially
            seed_project.invoke("parse")
            measures = {
                "floor": lambda: run_floor(conninfo, statements, truth.kept_rows),
                "compile": lambda: run_tenant_union_compile(project),
                "tenant_union": lambda: run_tenant_union(project, conninfo, truth.kept_rows),
            }
            if seed_mode == "run":
                measures["seed"] = lambda: run_seed(seed_project, endpoint, dbname, truth.kept_rows, cap_s)
            log(f"[bold]{tenants} x {rows}[/]: measuring {', '.join(measures)}")
            result.update(measure_rounds(measures, lambda: checkpoint(conninfo)))
        if seed_mode != "run":
            result["seed"] = {"skipped": seed_mode}
        floor_s = result["floor"]["seconds"]
        result["ratio_tenant_union"] = result["tenant_union"]["seconds"] / floor_s
        seed_s = result["seed"].get("seconds")
        result["ratio_seed"] = seed_s / floor_s if seed_s is not None else None
        target = TARGETS.get((tenants, rows))
        if target is not None:
            result["target"] = {"max_ratio": target, "met": result["ratio_tenant_union"] <= target}
        return result
    finally:
        drop_database(endpoint, dbname)


def server_settings(server) -> dict:
    names = ["server_version", "max_locks_per_transaction", "max_connections", "shared_buffers", "work_mem"]
    with psycopg.connect(server.conninfo()) as conn:
        rows = conn.execute("select name, setting, unit from pg_settings where name = any(%s)", (names,))
        return {name: f"{setting}{' x ' + unit if unit else ''}" for name, setting, unit in rows}


# ---------------------------------------------------------------------------------------------
# output


def seed_cell(seed: dict) -> str:
    if "failed" in seed:
        return f"[red]failed after {seed['after_seconds']:.1f} s: {seed['failed']}[/]"
    if "skipped" in seed:
        return f"[yellow]skipped: {seed['skipped']}[/]"
    return f"{seed['seconds']:.2f}"


def print_table(console, results: list[dict]) -> None:
    from rich.table import Table

    table = Table(title="tenant_union benchmark (seconds; median of 3 when < 10 s)")
    for col in (
        "scenario", "generation s (rows/s)", "floor s", "tenant_union model s", "dbt run s",
        "compile s", "tenant_union / floor", "seed design s", "seed / floor",
    ):  # fmt: skip
        table.add_column(col, justify="left" if col in ("scenario", "seed design s") else "right")
    for r in results:
        ratio = f"{r['ratio_tenant_union']:.2f}x"
        if "target" in r:
            ok = r["target"]["met"]
            ratio += f" [{'green' if ok else 'red'}](target <= {r['target']['max_ratio']}x: {'met' if ok else 'MISSED'})[/]"
        gen = r["generation"]
        table.add_row(
            r["scenario"],
            f"{gen['seconds']:.2f} ({gen['rows_per_s']:,.0f} rows/s, {gen['schemas_per_s']:,.0f} sch/s)",
            f"{r['floor']['seconds']:.3f}",
            f"{r['tenant_union']['seconds']:.3f}",
            f"{r['tenant_union']['run_seconds']:.2f}",
            f"{r['compile']['compile_seconds']:.2f}",
            ratio,
            seed_cell(r["seed"]),
            f"{r['ratio_seed']:.2f}x" if r["ratio_seed"] is not None else "-",
        )
    console.print(table)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["scenario"] for r in results]
    series = [
        ("floor (psycopg)", "#888888", [r["floor"]["seconds"] for r in results]),
        ("tenant_union model", "#1f77b4", [r["tenant_union"]["seconds"] for r in results]),
        ("seed design model", "#ff7f0e", [r["seed"].get("seconds") for r in results]),
    ]
    width = 0.27
    fig, ax = plt.subplots(figsize=(10, 5.5))
    for i, (name, color, values) in enumerate(series):
        xs = [x + (i - 1) * width for x in range(len(results))]
        ax.bar(xs, [v or 0 for v in values], width, label=name, color=color)
        for x, v, r in zip(xs, values, results):
            if v is not None:
                ax.annotate(f"{v:.2g}", (x, v), ha="center", va="bottom", fontsize=7)
                continue
            seed = r["seed"]  # only the seed design can have no time
            if "failed" in seed:
                ax.bar(x, seed["after_seconds"], width, color="none", edgecolor="red", hatch="//")
                ax.annotate(f"FAILED\nafter {seed['after_seconds']:.0f} s", (x, seed["after_seconds"]),
                            ha="center", va="bottom", fontsize=7, color="red")  # fmt: skip
            else:
                ax.annotate("skipped", (x, 0.01), ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_yscale("log")
    ax.set_xticks(range(len(results)), [f"{lb}\n({r['kept_rows']:,} rows)" for lb, r in zip(labels, results)])
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
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    parser.add_argument("--scenarios", nargs="+", metavar="NxR", help="e.g. 1000x2 10000x2")
    parser.add_argument("--seed-cap", type=float, default=300.0, help="time cap for one seed design run (s)")
    args = parser.parse_args(argv)
    if args.scenarios:
        scenarios = [tuple(int(p) for p in s.lower().split("x")) for s in args.scenarios]
    else:
        scenarios = QUICK_SCENARIOS if args.quick else SCENARIOS

    from rich.console import Console

    console = Console(width=max(170, shutil.get_terminal_size().columns))
    results = []
    started = time.perf_counter()
    with EmbeddedServer().start() as server:
        settings = server_settings(server)
        console.log(f"PostgreSQL {settings['server_version']} (default settings): {settings}")
        for tenants, rows in scenarios:
            seed_mode = "run"
            if args.quick and tenants >= 10000:
                seed_mode = "--quick (expected to fail on max_locks_per_transaction)"
            results.append(
                run_scenario(server, tenants, rows, seed_mode=seed_mode, cap_s=args.seed_cap, log=console.log)
            )
    print_table(console, results)

    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "server": settings,
        "batch_size": BATCH_SIZE,
        "repeat_rule": f"median of {REPEATS} runs when a run takes < {REPEAT_BELOW_S:.0f} s, else 1",
        "total_seconds": time.perf_counter() - started,
        "scenarios": results,
    }
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, args.out / "tenant_union.png")
    console.log(f"wrote {args.out / 'results.json'} and {args.out / 'tenant_union.png'}")
    missed = [r["scenario"] for r in results if not r.get("target", {}).get("met", True)]
    if missed:
        console.log(f"[red]tenant_union missed its target at: {', '.join(missed)}[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
