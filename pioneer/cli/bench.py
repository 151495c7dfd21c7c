"""``pioneer bench``: AdaptFT-Bench and the production-style deployments.

Imports only click at import time; the benchmark code (torch, the adapters, the broker) loads when a command
runs.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from pathlib import Path

import click

DEFAULT_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"

DATASETS = click.option(
    "--datasets",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PIONEER_DATASETS",
    show_envvar=True,
    default=DEFAULT_DATASETS,
    show_default="../shared/datasets from the project root",
    help="Folder holding clinc150/, conll2003/ and restaurant8k/.",
)


def machine() -> str:
    """One line describing where a benchmark ran (figures are only comparable on the same machine)."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.machine()} {platform.system()}, {cores} CPU cores available, torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads, {device}")


@click.group()
def bench() -> None:
    """Run benchmarks: AdaptFT-Bench (synthetic logs with known noise) and production-style deployments."""


@bench.command()
@click.option("--quick", is_flag=True, help="The reduced sizes (CI: minutes on 2 CPU cores).")
@click.option("--scenarios", default="all", show_default=True,
              help="Comma list of scenarios, or 'all'. See `pioneer bench adaptft --list`.")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-results/adaptft"),
              show_default=True, help="Where the report, plots and JSON go.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Registries and trace stores (default: OUT/work).")
@DATASETS
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--logs-per-stage", type=click.IntRange(10), default=None,
              help="Override every scenario's logs per stage (default: its quick or full size; the reference: 500).")
@click.option("--epsilon", type=click.IntRange(0), default=2, show_default=True,
              help="Negative flips Pioneer's release gate allows on its gate set (the reference: 2). Other values "
              "show what the flip budget costs; the verdicts compare against naive either way.")
@click.option("--checkers/--no-checkers", default=True, show_default=True,
              help="Let Pioneer's diagnosis verify corrections with a scenario's answer checker (arithmetic has one).")
def adaptft(quick: bool, scenarios: str, list_only: bool, out: Path, workdir: Path | None, datasets: Path,
            seed: int, logs_per_stage: int | None, epsilon: int, checkers: bool) -> None:
    """AdaptFT-Bench: Pioneer vs naive retraining vs no retraining on synthetic logs with known noise.

    For each scenario: a weak base model, three deployment stages of logs with 15% -> 25% -> 40% poison, each
    method's checkpoints scored on the same held-out set, plus negative flips per release, the noise
    diagnosis against the ground truth and the recovery of planted patterns. Writes OUT/adaptft-report.md
    (with plots) and OUT/adaptft-results.json. Exits non-zero if a scenario failed to run.
    """
    from pioneer.bench import SCENARIOS

    if list_only:
        for s in SCENARIOS.values():
            data = s.dataset or "generated"
            click.echo(f"{s.name:20s} {s.task:18s} {data:13s} {s.description}")
        return
    names = list(SCENARIOS) if scenarios == "all" else [n.strip() for n in scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise click.BadParameter(f"unknown scenario(s) {', '.join(unknown)}; use {', '.join(SCENARIOS)}",
                                 param_hint="--scenarios")
    missing = [n for n in names if SCENARIOS[n].dataset and not (datasets / SCENARIOS[n].dataset).is_dir()]
    if missing:
        raise click.ClickException(f"{', '.join(missing)} need(s) datasets under {datasets}; pass --datasets or "
                                   "choose --scenarios banking,banking-adversarial,arithmetic (no data needed)")
    results = _run_adaptft(names, quick=quick, out=out, workdir=workdir or out / "work", datasets=datasets, seed=seed,
                           logs_per_stage=logs_per_stage, epsilon=epsilon, checkers=checkers)
    if any(r.error for r in results):
        raise click.ClickException("some scenarios failed: " + "; ".join(f"{r.scenario}: {r.error}"
                                                                        for r in results if r.error))


def _run_adaptft(names: list[str], *, quick: bool, out: Path, workdir: Path, datasets: Path, seed: int,
                 logs_per_stage: int | None = None, epsilon: int = 2, checkers: bool = True):
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from tqdm import tqdm

    from pioneer.bench import SCENARIOS, AdaptFTRunner, write_report

    _quiet_libraries()
    started = time.perf_counter()
    steps_per_scenario = 3 + 2 * 3  # generate, base, score; then naive and pioneer per stage
    bar = tqdm(total=steps_per_scenario * len(names), unit="step", dynamic_ncols=True, file=sys.stderr)

    started_steps = {"n": 0}

    def say(line: str) -> None:  # a new step starts: the previous one is done
        if started_steps["n"]:
            bar.update(1)
        started_steps["n"] += 1
        bar.set_description_str(line[:70])

    runner = AdaptFTRunner(datasets=datasets, workdir=workdir, quick=quick, seed=seed, say=say,
                           logs_per_stage=logs_per_stage, epsilon=epsilon, checkers=checkers)
    results = []
    for name in names:
        result = runner.run(SCENARIOS[name])
        results.append(result)
        bar.write(_one_line(result))
    bar.update(bar.total - bar.n)
    bar.close()
    wall = time.perf_counter() - started
    command = "pioneer bench adaptft" + (" --quick" if quick else "") + (
        "" if len(names) == len(SCENARIOS) else f" --scenarios {','.join(names)}") + (
        f" --logs-per-stage {logs_per_stage}" if logs_per_stage else "") + (f" --seed {seed}" if seed else "") + (
        f" --epsilon {epsilon}" if epsilon != 2 else "") + ("" if checkers else " --no-checkers") + (
        f" --out {shlex.quote(str(out))}")
    report = write_report(results, out, command=command, wall_seconds=wall, machine=machine(), quick=quick,
                          epsilon=epsilon)
    click.echo(f"wall time {wall:.0f}s; report: {report}")
    return results


def _one_line(result) -> str:
    if result.error:
        return f"{result.scenario}: FAILED {result.error}"
    from pioneer.bench.report import judge_summary

    line = (f"{result.scenario}: {result.metric_name} base {result.base:.3f} -> naive {result.final('naive'):.3f}, "
            f"pioneer {result.final('pioneer'):.3f} ({result.wall_seconds:.0f}s)")
    spots = {m: result.series(m)[-1].blind_spot for m in ("none", "naive", "pioneer") if result.series(m)}
    if all(v is not None for v in spots.values()) and spots:
        line += "; blind spot " + ", ".join(f"{m} {v:.3f}" for m, v in spots.items())
    judged = judge_summary(result)
    if judged is not None:
        line += (f"; judge: {judged['calls']} calls for pioneer, verdicts right {judged['verdicts_right']}/"
                 f"{judged['verdicts']}, corrections right {judged['corrections_right']}/{judged['corrections']}")
    return line


def _quiet_libraries() -> None:
    import logging

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    for name in ("pioneer", "httpx", "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.WARNING)


@bench.command()
@click.argument("preset", type=click.Choice(["clinc150", "conll2003"]), required=False)
@click.option("--dataset", type=click.Path(exists=True, path_type=Path), default=None,
              help="Any labelled dataset instead of a preset: CSV/TSV or JSONL (text, label or spans), CLINC150's "
              "data_full.json or folder, a CoNLL file or a folder with train.txt/dev.txt/test.txt, span JSON "
              "(Restaurant-8k) or a folder with train*.json/test.json.")
@click.option("--task", type=click.Choice(["classification", "entity_extraction"]), default="classification",
              show_default=True, help="The task of --dataset.")
@click.option("--per-label", type=click.IntRange(1), default=10, show_default=True,
              help="Weak model (classification): training examples of each label.")
@click.option("--sparse-labels", type=click.IntRange(0), default=20, show_default=True,
              help="Weak model (classification): seeded labels that get only --sparse-per-label examples.")
@click.option("--sparse-per-label", type=click.IntRange(1), default=2, show_default=True)
@click.option("--base-sentences", type=click.IntRange(1), default=15, show_default=True,
              help="Weak model (entity extraction): seeded training sentences.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the report, plots, JSON, broker logs, registry and traces go "
              "(default: bench-results/deployment-NAME; wiped at start).")
@DATASETS
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--traffic", type=int, default=None, help="Requests to replay (default: the preset's, or all).")
@click.option("--rate", type=click.FloatRange(min=0.1), default=None,
              help="Requests per second (default: 12 for a classifier, 2.5 for a tagger).")
@click.option("--deadline", type=float, default=None, help="Stop waiting for retrains after this many seconds.")
@click.option("--pace", type=click.Choice(["realtime", "lockstep"]), default="realtime", show_default=True,
              help="realtime: the traffic runs on while the monitor catches up and the trainer trains, as in a busy "
              "deployment; lockstep: it is held while a retrain request waits or trains and while the monitor lags, "
              "as if the loop kept up with its rate (runs then compare across machines and loads).")
def deployment(preset: str | None, dataset: Path | None, task: str, per_label: int, sparse_labels: int,
               sparse_per_label: int, base_sentences: int, out: Path | None, datasets: Path, seed: int,
               traffic: int | None, rate: float | None, deadline: float | None, pace: str) -> None:
    """A production-style deployment of a labelled dataset, through the real topics, monitor and trainer.

    Deploys a deliberately weak model (trained on a documented, seeded subset of the training split), starts the
    embedded broker, the server, the monitor and the trainer as processes, streams the rest of the training split
    and its labels through the server's HTTP API, lets the loop retrain and release, and reports before/after on
    the held-out test split: observed failures fixed, negative flips, retrain cycles, stalls, wall time.

    Splits: a dataset published with its splits keeps them (CLINC150 train/val/test, CoNLL train/dev/test,
    span JSON train*/test, whose validation and gate pool is a seeded 10% of its training files); any other
    file is split by a seeded shuffle: 20% test, 10% for the validation and gate sets, the rest is training
    split. Every process runs with the product's defaults; PIONEER_MONITOR_* and PIONEER_TRAINER_*
    variables set in the environment reach them, and the report lists them.
    """
    import dataclasses

    from streams.bench.deployment import DEPLOYMENTS, dataset_deployment, run_deployment
    from streams.bench.tasks import WeakModelRecipe

    if (preset is None) == (dataset is None):
        raise click.UsageError("give a preset (clinc150, conll2003) or --dataset PATH, not both")
    if preset is not None:
        spec = DEPLOYMENTS[preset]
        if not (datasets / spec.dataset).is_dir():
            raise click.ClickException(f"{preset} needs {datasets / spec.dataset}; pass --datasets")
    else:
        weak = WeakModelRecipe(per_label=per_label, sparse_labels=sparse_labels, sparse_per_label=sparse_per_label,
                               base_sentences=base_sentences)
        spec = dataset_deployment(dataset, task, weak=weak)
    if rate is not None:
        spec = dataclasses.replace(spec, rate=rate)
    spec = dataclasses.replace(spec, lockstep=pace == "lockstep")
    from pioneer.errors import ConfigError

    try:
        result = run_deployment(
            spec, out=(out or Path(f"bench-results/deployment-{spec.name}")).resolve(), datasets=datasets.resolve(),
            seed=seed, traffic=traffic, deadline=deadline, say=click.echo, machine=machine(),
            command="pioneer " + shlex.join(sys.argv[1:]),
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{spec.name}: test {result.metric_name} {result.before:.4f} -> {result.after:.4f} in "
               f"{result.wall_seconds:.0f}s; report: {result.report}")


# Registered last: the cold-start bench is its own module.
from pioneer.cli.coldstart_bench import coldstart as _coldstart

bench.add_command(_coldstart)
