"""Score every version a deployment run registered, released or rejected, on the run's held-out test split.

A rejected candidate is registered for audit (content hash, gate report); scoring it on the test split says
what the gate's refusal cost or saved on data it never saw. Each row also counts the test answers the version
broke and fixed against the production it was gated against.

    python scripts/score_versions.py bench-results/deployment-travel --dataset travel.csv
    python scripts/score_versions.py bench-results/deployment-clinc150 --preset clinc150
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="The deployment's --out folder.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", type=Path, help="The --dataset the run was given.")
    source.add_argument("--preset", choices=["clinc150", "conll2003"])
    parser.add_argument("--task", default="classification", choices=["classification", "entity_extraction"])
    parser.add_argument("--seed", type=int, default=0, help="The run's --seed (it draws the split).")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_SHARED)
    args = parser.parse_args()

    from pioneer.registry import FileRegistry
    from streams.bench.deployment import DEPLOYMENTS, dataset_deployment
    from streams.bench.tasks import load_splits

    spec = DEPLOYMENTS[args.preset] if args.preset else dataset_deployment(args.dataset, args.task)
    *_, test = load_splits(args.datasets / spec.dataset, spec.task, args.seed)
    registry = FileRegistry(args.run / "registry")
    manifests = sorted((args.run / "registry" / spec.name / "versions").glob("*/manifest.json"),
                       key=lambda m: json.loads(m.read_text())["created"])
    right: dict[str, dict[str, bool]] = {}  # version -> test example id -> right
    for manifest in manifests:
        version = manifest.parent.name
        report = json.loads(manifest.read_text()).get("gate_report") or {}
        baseline = report.get("baseline_version")
        outcome = "first" if not baseline else "released" if report.get("passed") else "rejected"
        evaluation = registry.load_adapter(spec.name, version).evaluate(test)
        right[version] = evaluation.correct_by_id()
        before = right.get(baseline, {})
        row = {"version": version, "outcome": outcome, "against": baseline, "test": round(evaluation.metric, 4),
               "test_flips": sum(1 for i, ok in before.items() if ok and not right[version].get(i, False)),
               "test_fixes": sum(1 for i, ok in before.items() if not ok and right[version].get(i, False)),
               "failed": sorted({c["name"].split(":", 1)[0] for c in report.get("checks", []) if not c["passed"]})}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
