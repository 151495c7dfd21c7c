"""``pioneer bench coldstart``: cold start on CLINC150 domains, Restaurant-8k slots, CoNLL-2003 entities and
arithmetic word problems (generation), each against its base, a plain fit on the same acquired data and the ceiling."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

DEFAULT_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@click.command("coldstart")
@click.option("--domains", default="credit_cards", show_default=True,
              help="Comma list of CLINC150 domains ('' for none).")
@click.option("--per-label", default="5,0", show_default=True, help="Comma list: labelled examples per intent.")
@click.option("--entity-tasks", default="", show_default=True,
              help="Comma list of restaurant8k, conll2003 (entity extraction).")
@click.option("--entity-examples", type=click.IntRange(0), default=20, show_default=True,
              help="Labelled sentences the user brings to an entity task.")
@click.option("--entity-pool", type=click.IntRange(1), default=400, show_default=True,
              help="Unlabelled sentences of an entity task (the teacher labels them).")
@click.option("--entity-test", type=click.IntRange(1), default=300, show_default=True,
              help="Test sentences an entity task is scored on.")
@click.option("--arithmetic", "arithmetic_sizes", default="", show_default=True, metavar="EXAMPLES,POOL,TEST",
              help="Add the arithmetic generation task (SmolLM2, answers checked), e.g. 10,120,60 ('' for none).")
@click.option("--entity-seeds", default="0", show_default=True,
              help="Comma list: seeds of an entity task's draw of sentences (one cell per seed).")
@click.option("--error-rates", default="0.05,0.2", show_default=True, help="Comma list: simulated teacher errors.")
@click.option("--budget", type=click.FloatRange(min=0.0), default=5.0, show_default=True,
              help="Minutes of search per cell.")
@click.option("--datasets", type=click.Path(file_okay=False, path_type=Path), envvar="PIONEER_DATASETS",
              default=DEFAULT_DATASETS, show_default="../shared/datasets from the project root")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-results/coldstart"),
              show_default=True, help="Where the report, per-cell runs and JSON go.")
def coldstart(domains: str, per_label: str, entity_tasks: str, entity_examples: int, entity_pool: int,
              entity_test: int, entity_seeds: str, arithmetic_sizes: str, error_rates: str, budget: float, datasets: Path, out: Path) -> None:
    """Cold start per (task, examples, teacher error rate), each beside its base, a plain fit on the same
    acquired data, and the ceiling, all on the task's test split."""
    from pioneer.bench.coldstart import (
        arithmetic_task,
        clinc_domain_task,
        entity_task,
        run_cell,
    )
    from pioneer.cli.bench import machine
    from pioneer.reports import table

    tasks = [(f"{d}-{k}pl", lambda d=d, k=k: clinc_domain_task(datasets, d, per_label=k))
             for d in _list(domains) for k in [int(v) for v in _list(per_label)]]
    tasks += [(f"{name}-{entity_examples}ex" + (f"-seed{s}" if s else ""), lambda name=name, s=s: entity_task(
        datasets, name, examples=entity_examples, pool=entity_pool, test=entity_test, seed=s))
        for name in _list(entity_tasks) for s in [int(v) for v in _list(entity_seeds)]]
    if arithmetic_sizes:
        try:
            examples, pool, test = (int(v) for v in _list(arithmetic_sizes))
        except ValueError:
            raise click.BadParameter("write EXAMPLES,POOL,TEST, e.g. 10,120,60", param_hint="--arithmetic") from None
        tasks.append((f"arithmetic-{examples}ex", lambda: arithmetic_task(examples=examples, pool=pool, test=test)))
    rows = []
    out.mkdir(parents=True, exist_ok=True)
    for label, make in tasks:
        task = make()
        for rate in [float(v) for v in _list(error_rates)]:
            row = run_cell(task, error_rate=rate, budget_minutes=budget, workdir=out / f"{label}-{rate:g}")
            click.echo(json.dumps(row))
            rows.append(row)
    header = ["task", "metric", "examples", "teacher", "base", "base score", "plain fit", "cold start", "ceiling",
              "cold/ceiling", "attempts", "wall s"]
    body = [[r["task"], r["metric"], r["examples"], r["teacher"], r["base"], r["base_score"], r["plain_fit"],
             r["coldstart"] if r["coldstart"] is not None else "rejected", r["ceiling"],
             (r["coldstart"] or 0.0) / r["ceiling"], r["attempts"], r["wall_seconds"]] for r in rows]
    report = "\n".join([
        "# Cold-start bench", "", f"Command: `pioneer {shlex.join(sys.argv[1:])}`", "", f"Machine: {machine()}", "",
        ("Test-split scores. Base: nearest label name by embedding (classification); the tagger fitted on the "
         "user's examples alone (entities); the untrained SmolLM2 (generation). Plain fit: the default model "
         "on all the data cold start acquired. "
         "For generation the plain fit trains on every teacher answer, unchecked. "
         "Ceiling: the default model on the task's full labelled training split (for entity and generation "
         "tasks: the same texts with gold labels)."),
        "", table(header, body), "",
    ])
    (out / "report.md").write_text(report, encoding="utf-8")
    (out / "results.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    click.echo(f"report: {out / 'report.md'}")
