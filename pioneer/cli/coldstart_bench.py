"""``pioneer bench coldstart``: cold start on CLINC150 domains against its base, a plain fit and the ceiling."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

DEFAULT_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


@click.command("coldstart")
@click.option("--domains", default="credit_cards", show_default=True, help="Comma list of CLINC150 domains.")
@click.option("--per-label", default="5,0", show_default=True, help="Comma list: labelled examples per intent.")
@click.option("--error-rates", default="0.05,0.2", show_default=True, help="Comma list: simulated teacher errors.")
@click.option("--budget", type=click.FloatRange(min=0.0), default=5.0, show_default=True,
              help="Minutes of search per cell.")
@click.option("--datasets", type=click.Path(file_okay=False, path_type=Path), envvar="PIONEER_DATASETS",
              default=DEFAULT_DATASETS, show_default="../shared/datasets from the project root")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-results/coldstart"),
              show_default=True, help="Where the report, per-cell runs and JSON go.")
def coldstart(domains: str, per_label: str, error_rates: str, budget: float, datasets: Path, out: Path) -> None:
    """Cold start per (domain, examples per label, teacher error rate), each beside the zero-shot base, a plain
    fit on the same acquired data, and the full-data ceiling, all on the domain's test split."""
    from pioneer.bench.coldstart import clinc_domain_task, run_clinc_cell
    from pioneer.cli.bench import machine
    from pioneer.reports import table

    rows = []
    out.mkdir(parents=True, exist_ok=True)
    for domain in [d.strip() for d in domains.split(",") if d.strip()]:
        for k in [int(v) for v in per_label.split(",") if v.strip()]:
            task = clinc_domain_task(datasets, domain, per_label=k)
            for rate in [float(v) for v in error_rates.split(",") if v.strip()]:
                row = run_clinc_cell(task, error_rate=rate, budget_minutes=budget,
                                     workdir=out / f"{domain}-{k}pl-{rate:g}")
                click.echo(json.dumps(row))
                rows.append(row)
    header = ["task", "examples/label", "teacher", "base (zero-shot)", "plain fit", "cold start", "ceiling",
              "cold/ceiling", "attempts", "wall s"]
    body = [[r["task"], r["examples_per_label"], r["teacher"], r["base_zero_shot"], r["plain_fit"],
             r["coldstart"] if r["coldstart"] is not None else "rejected", r["ceiling"],
             (r["coldstart"] or 0.0) / r["ceiling"], r["attempts"], r["wall_seconds"]] for r in rows]
    report = "\n".join([
        "# Cold-start bench", "", f"Command: `pioneer {shlex.join(sys.argv[1:])}`", "", f"Machine: {machine()}", "",
        ("Test-split accuracy. Base: nearest label name by embedding. Plain fit: the default classifier on all the "
        "data cold start acquired. Ceiling: the default classifier on the domain's full labelled training split."),
        "", table(header, body), "",
    ])
    (out / "report.md").write_text(report, encoding="utf-8")
    (out / "results.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    click.echo(f"report: {out / 'report.md'}")
