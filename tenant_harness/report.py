"""Run report: what a tenant_union build did, as a rich table, JSON, Markdown and a PNG chart
(for a pull-request comment). Reads the build's own log (``tenant_union_runs``) and the output table."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from rich.table import Table

from .database import relation_exists
from .dataset import TRUTH_SCHEMA
from .errors import HarnessError
from .tenants import DatasetTruth


@dataclass(frozen=True)
class RunReport:
    """One build of ``model``: tenants, batches, rows in and out, time per phase and per batch."""

    model: str
    tenants: int
    batches: int
    batch_size: int
    rows_out: int
    build_seconds: float
    incremental: bool
    batch_stats: list[list[float]] = field(default_factory=list)  # [tenants, rows, seconds] per batch
    rows_per_tenant: dict[str, int] = field(default_factory=dict)
    rows_in: int | None = None  # source rows, known when the harness generated the tenants
    phases: list[tuple[str, float]] = field(default_factory=list)

    @property
    def dropped_rows(self) -> int | None:
        return None if self.rows_in is None else self.rows_in - sum(self.rows_per_tenant.values())


def built_models(conninfo: str, *, schema: str = "analytics", names: Sequence[str] | None = None) -> list[str]:
    """The tenant_union models with a recorded build in ``schema`` (among ``names``, when given)."""
    with psycopg.connect(conninfo) as conn:
        if not relation_exists(conn, "tenant_union_runs", schema=schema):
            return []
        runs = sql.Identifier(schema, "tenant_union_runs")
        built = [r[0] for r in conn.execute(sql.SQL("select distinct model from {} order by 1").format(runs))]
    return [m for m in built if names is None or m in names]


def collect(
    conninfo: str,
    *,
    schema: str = "analytics",
    model: str = "all_users",
    truth: DatasetTruth | None = None,
    source_table: str | None = None,
    phases: Sequence[tuple[str, float]] = (),
) -> RunReport:
    """The report of the last recorded build of ``model`` in ``schema``. With the generator's
    ``truth``, rows in are the source rows of ``source_table`` (default: the truth's only table, or
    users) in the tenants the model holds."""
    with psycopg.connect(conninfo) as conn:
        runs = sql.Identifier(schema, "tenant_union_runs")
        if not relation_exists(conn, "tenant_union_runs", schema=schema):
            raise HarnessError(
                f"no tenant_union build recorded in schema {schema!r}. Hint: run `tenant-harness run` first."
            )
        last = conn.execute(
            sql.SQL(
                "select tenants, batches, batch_size, rows_written, seconds, incremental, batch_stats "
                "from {} where model = %s order by finished_at desc limit 1"
            ).format(runs),
            (model,),
        ).fetchone()
        if last is None:
            raise HarnessError(f"no build of {model!r} recorded in {schema}.tenant_union_runs.")
        counts = conn.execute(
            sql.SQL("select tenant_id, count(*) from {} group by 1 order by 1").format(sql.Identifier(schema, model))
        ).fetchall()
        tenants, batches, batch_size, rows, seconds, incremental, stats = last
        if truth is not None:
            names = [t.table for t in truth.tables]
            table = source_table or (names[0] if len(names) == 1 else "users")
            present = dict(counts)
            rows_in = (
                sum(t.source_rows for t in truth.table(table).tenants if t.name in present) if table in names else None
            )
        else:
            rows_in = _source_rows_from_truth(conn, tenants, {t for t, _ in counts}, source_table or "users")
    return RunReport(
        model=model, tenants=tenants, batches=batches, batch_size=batch_size, rows_out=sum(c for _, c in counts),
        build_seconds=float(seconds), incremental=incremental, batch_stats=json.loads(stats) if stats else [],
        rows_per_tenant=dict(counts), rows_in=rows_in, phases=list(phases),
    )  # fmt: skip


def _source_rows_from_truth(
    conn: psycopg.Connection, built_tenants: int, output_tenants: set[str], table: str = "users"
) -> int | None:
    """Source rows of ``table`` from the truth the generator wrote into the database (``up``), when it
    describes exactly the tenants this build read: as many tenants, every output tenant among them.
    Otherwise (filters, tenants made by hand) None: the report shows "?" rather than a wrong count."""
    if not relation_exists(conn, "tenant_rows", schema=TRUTH_SCHEMA):
        return None
    truth = conn.execute(
        sql.SQL("select tenant_id, source_rows from {} where table_name = %s").format(
            sql.Identifier(TRUTH_SCHEMA, "tenant_rows")
        ),
        (table,),
    ).fetchall()
    if len(truth) != built_tenants or not output_tenants <= {tenant for tenant, _ in truth}:
        return None
    return sum(rows for _, rows in truth)


def facts(report: RunReport) -> list[tuple[str, str]]:
    """The report's numbers as (name, value) pairs, in reading order."""
    unknown = "?"  # rows in and dropped rows are known only for tenants the harness generated
    rows = [
        ("tenants", str(report.tenants)),
        ("batches (size)", f"{report.batches} ({report.batch_size})"),
        ("build", "incremental" if report.incremental else "full"),
        ("rows in (source)", unknown if report.rows_in is None else str(report.rows_in)),
        ("rows out", str(report.rows_out)),
        ("dropped rows (invalid)", unknown if report.dropped_rows is None else str(report.dropped_rows)),
        ("build seconds", f"{report.build_seconds:.2f}"),
    ]
    rows += [(f"phase: {name}", f"{seconds:.2f} s") for name, seconds in report.phases]
    if report.phases:
        rows.append(("total", f"{sum(s for _, s in report.phases):.2f} s"))
    return rows


def summary_table(report: RunReport) -> Table:
    """The report as a two-column rich table."""
    table = Table(title=f"run report: {report.model}")
    table.add_column("")
    table.add_column("value", justify="right")
    for name, value in facts(report):
        table.add_row(name, value)
    return table


def write(report: RunReport, out_dir: str | Path) -> list[Path]:
    """Write report.json, report.md and report.png into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = asdict(report) | {"dropped_rows": report.dropped_rows}
    paths = [out / "report.json", out / "report.md", out / "report.png"]
    paths[0].write_text(json.dumps(data, indent=2, default=str))
    paths[1].write_text(_markdown(report))
    _chart(report, paths[2])
    return paths


def _markdown(report: RunReport) -> str:
    lines = [f"## tenant_union run report: `{report.model}`", "", "| | |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in facts(report)]
    lines += [
        "",
        "![rows per tenant and time per batch](report.png)",
        "",
        "_The chart is report.png, next to this file. A pull-request comment cannot show a file by a "
        "relative path: attach report.png to the comment (drag it in), or link it where CI uploaded it._",
        "",
    ]
    return "\n".join(lines)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}es" if word.endswith("ch") else f"{n} {word}s"


def figure(report: RunReport):
    """The report's chart as a matplotlib figure: tenants by row count, and seconds per batch."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:
        raise HarnessError(
            "writing the report's chart needs matplotlib. Hint: pip install 'tenant-harness[test]'."
        ) from exc
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    counts = list(report.rows_per_tenant.values())
    distinct = sorted(set(counts))
    if len(distinct) <= 30:
        # Few distinct sizes (uniform generated data has one): a bar per size, not a histogram whose
        # bins would straddle a single value.
        gap = min((b - a for a, b in zip(distinct, distinct[1:], strict=False)), default=1)
        tenants_with = Counter(counts)
        left.bar(distinct, [tenants_with[v] for v in distinct], width=0.8 * gap, color="#4C72B0")
    else:
        left.hist(counts, bins=30, color="#4C72B0")
    left.set_title(f"rows per tenant ({_plural(len(counts), 'tenant')})")
    left.set_xlabel("rows")
    left.set_ylabel("tenants")
    seconds = [b[2] for b in report.batch_stats]
    right.bar(range(1, len(seconds) + 1), seconds, color="#DD8452")
    for axis in (left.xaxis, left.yaxis, right.xaxis):
        axis.set_major_locator(MaxNLocator(integer=True))
    if len(distinct) == 1:
        left.set_xticks(distinct)
    for axes in (left, right):
        axes.ticklabel_format(axis="both", style="plain", useOffset=False)
    right.set_title(f"time per batch ({_plural(report.batches, 'batch')} of <= {report.batch_size})")
    right.set_xlabel("batch")
    right.set_ylabel("seconds")
    if not seconds:
        right.text(0.5, 0.5, "batch timings not recorded", ha="center", transform=right.transAxes)
    fig.tight_layout()
    return fig


def _chart(report: RunReport, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = figure(report)
    fig.savefig(path, dpi=100)
    plt.close(fig)
