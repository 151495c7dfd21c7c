"""Cold start on CLINC150 domains, judged against the same model trained on the domain's full labelled data.

    python scripts/coldstart_clinc150.py --domains credit_cards,travel --per-label 5 --error-rate 0.05

For each domain: write the user's files (description, 5 examples per intent, the rest of the domain's training
texts unlabelled, the gold labels the simulated teacher answers from), run ``pioneer coldstart`` on them exactly
as a user would, load the ``production`` version it registered, and score it on the domain's test split beside
the full-data ceiling (the default classifier on every labelled training query). One JSON line per domain.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", default="credit_cards", help="Comma list of CLINC150 domains.")
    parser.add_argument("--per-label", type=int, default=5, help="Labelled examples per intent the user gives.")
    parser.add_argument("--error-rate", type=float, default=0.05, help="The simulated teacher's error rate.")
    parser.add_argument("--budget", type=float, default=10.0, help="Minutes of search per domain.")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--out", type=Path, default=Path("bench-results/coldstart"))
    return parser


def run_domain(domain: str, args: argparse.Namespace) -> dict:
    from pioneer.bench.coldstart import (
        clinc_domain_task,
        full_data_ceiling,
        write_task_files,
    )
    from pioneer.cli import cli
    from pioneer.registry import FileRegistry

    task = clinc_domain_task(args.datasets, domain, per_label=args.per_label)
    work = args.out / domain
    files = write_task_files(task, work / "inputs")
    model = f"clinc-{domain}"
    argv = [
        "coldstart", task.description, "--model", model, "--labels", ", ".join(task.labels),
        "--unlabeled", str(files["unlabeled.txt"]),
        "--teacher", f"simulated:{files['gold.jsonl']}:{args.error_rate}",
        "--budget", str(args.budget), "--registry", str(work / "registry"), "--workdir", str(work / "run"),
    ]
    if task.examples:
        argv += ["--examples", str(files["examples.jsonl"])]
    started = time.monotonic()
    try:
        cli.main(argv, prog_name="pioneer", standalone_mode=False)
    except SystemExit as exc:  # a rejected gate exits 1; the figures below still say why
        if exc.code:
            print(f"pioneer coldstart exited {exc.code}", file=sys.stderr)
    wall = time.monotonic() - started
    registry = FileRegistry(work / "registry")
    version = registry.get_alias(model, "production")
    score = registry.load_adapter(model, version).evaluate(list(task.test)).metric if version else None
    ceiling = full_data_ceiling(task)
    return {
        "task": task.name, "per_label": args.per_label, "teacher": f"simulated-{100 * args.error_rate:g}%",
        "coldstart_test_accuracy": score, "full_data_test_accuracy": ceiling,
        "ratio": None if score is None else score / ceiling, "coldstart_wall_seconds": round(wall, 1),
        "version": version, "report": str(work / "run" / "report.md"),
        "command": "pioneer " + shlex.join(argv),
    }


def main(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "results.jsonl").open("a", encoding="utf-8") as sink:
        for domain in [d.strip() for d in args.domains.split(",") if d.strip()]:
            row = run_domain(domain, args)
            print(json.dumps(row), flush=True)
            sink.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main(make_parser().parse_args())
