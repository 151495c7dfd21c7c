"""Flip anatomy: why did the regression gate reject an AdaptFT-Bench stage, poison or churn?

Takes a finished ``pioneer bench adaptft`` run and one of its rejected Pioneer stages, and retrains the candidate
the gate judged (same recipe, same production weights to warm-start from, same training set) under variations
that separate the two causes of negative flips:

  as trained      the candidate's recipe, reproduced;
  poison removed  the same training set without the logs the generator poisoned (the ground truth, which
                  Pioneer never sees): what a perfect noise diagnosis would have trained on;
  base + clean    only the base data and the clean logs;
  seed k          the recipe again with another seed (is it noise of the fit?);
  blend w         the "as trained" candidate blended back toward production at weight w;
  average of k    the "as trained" fit and the first k - 1 reseeded fits, weights averaged (a uniform model soup
                  of warm starts from production): averaging removes what differs from fit to fit, so if the
                  average breaks as much as each fit, the flips are systematic, not noise of one fit.

After the table it sorts the "as trained" candidate's flips by the ground truth of the example (base data, or
the log's category and kind) and by whether the candidate's answer is right by the *true* output. Flips on
poisoned passes that the candidate answers truly would be an artefact of poison in the gate set; flips it gets
wrong by the truth are real regressions.

Each row is scored on the stage's gate set against production: gate metric, negative flips (examples production
got right that the candidate gets wrong: the gate allows 2) and fixes. If removing the poison leaves the flips
where they were, the rejection is churn of retraining, not poison that slipped through the diagnosis.

Before the table it prints the ground truth of the pattern check's evidence: the target patterns' held-out
failures, which the candidate must fix. A poisoned one cannot be fixed by a candidate that learned the truth.

    python scripts/flip_anatomy.py bench-results/adaptft-full500-conll2003 --scenario conll2003 --stage 3
    python scripts/flip_anatomy.py RUN --scenario conll2003 --stage 3 --seeds 2 --averages --blend 0.6 0.4 0.25
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pioneer.bench.logs import SyntheticLog
from pioneer.bench.runner import AdaptFTRunner
from pioneer.bench.scenarios import SCENARIOS
from pioneer.registry.file import FileRegistry
from pioneer.retrain.datasets import GATE_FRACTION, VALIDATION_FRACTION, split_ids
from pioneer.training import adapter_for
from pioneer.training.base import Example, TaskAdapter

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="Output folder of a `pioneer bench adaptft` run (holds work/).")
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--stage", type=int, required=True, help="The stage (1-3) whose rejection to explain.")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, default=2, help="Extra seeds of the recipe (0: none).")
    parser.add_argument("--blend", type=float, nargs="*", default=[0.6, 0.4, 0.25, 0.1, 0.05],
                        help="Weights at which the reproduced candidate is blended back toward production.")
    parser.add_argument("--averages", action="store_true",
                        help="Also average the reseeded fits with the reproduced one (needs --seeds >= 1 and an "
                             "adapter that blends).")
    return parser.parse_args(argv)


def run_settings(run: Path) -> tuple[bool, int | None, int]:
    """``quick``, ``logs_per_stage`` and ``seed`` of the run, read from its command line."""
    command = json.loads((run / "adaptft-results.json").read_bytes())["command"].split()
    value = lambda flag: command[command.index(flag) + 1] if flag in command else None  # noqa: E731
    logs = value("--logs-per-stage")
    return "--quick" in command, int(logs) if logs else None, int(value("--seed") or 0)


def ground_truth(logs: dict[str, SyntheticLog]) -> Callable[[Example], str]:
    """Ground-truth category of a training example (``base`` for the base data; ``#k`` repeats stripped)."""

    def category(example: Example) -> str:
        entry = logs.get(example.id.split("#", 1)[0])
        return "base" if entry is None else entry.category

    return category


def pattern_evidence(
    decision: dict[str, Any], gate_ids: set[str], logs: dict[str, SyntheticLog]
) -> Counter[tuple[str, str]]:
    """(category, kind) of each target pattern's held-out failures, split as the retrain split them."""
    found: Counter[tuple[str, str]] = Counter()
    for pattern in decision["diagnosis"]["patterns"]:
        fixable = [i for i, verdict in pattern["verdicts"].items() if verdict == "fixable"]
        _, _, held_out = split_ids(fixable, gate_fraction=GATE_FRACTION, validation_fraction=VALIDATION_FRACTION)
        found.update((logs[i].category, logs[i].kind) for i in held_out if i in gate_ids and i in logs)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quick, logs_per_stage, seed = run_settings(args.run)
    model = args.scenario
    registry = FileRegistry(args.run / "work" / model / "pioneer" / "registry")
    request = args.run / "work" / model / "pioneer" / "registry" / model / "requests" / \
        f"{model}-pioneer-stage{args.stage - 1}.json"
    decision = json.loads(request.read_bytes())
    if decision.get("outcome") != "rejected" or not decision.get("gate_report"):
        print(f"stage {args.stage} of {model} was not rejected by the gate ({decision.get('outcome')}): "
              "nothing to explain")
        return 1
    manifest = registry.get_manifest(model, decision["gate_report"]["candidate_version"])
    recipe = manifest.recipe["recipe"]
    production = registry.load_adapter(model, manifest.parent)
    config = registry.load_adapter(model, manifest.version).config
    train = registry.get_dataset(model, manifest.training_data)
    gate = registry.get_dataset(model, manifest.eval_sets["gate"])

    runner = AdaptFTRunner(datasets=args.datasets, workdir=args.run / "work", quick=quick, seed=seed,
                           logs_per_stage=logs_per_stage)
    logs = runner.generate(SCENARIOS[model]).by_id()
    category = ground_truth(logs)
    baseline = production.evaluate(gate)
    right_before = baseline.correct_by_id()
    print(f"{model}, stage {args.stage}: candidate {manifest.version} ({recipe['name']}), gate set of {len(gate)}, "
          f"production right on {sum(right_before.values())}")
    print("training set by category:", dict(Counter(category(e) for e in train)))
    evidence = pattern_evidence(decision, {e.id for e in gate}, logs)
    by_category = Counter(c for c, _ in evidence.elements())
    poison_kinds = {kind: n for (c, kind), n in evidence.items() if c == "poison"}
    print(f"pattern check's held-out failures by category: {dict(by_category)}; poison kinds: {poison_kinds}")
    print(f"\n| trial | training examples | gate {baseline.metric_name} | negative flips | fixes | fit s |")
    print("|---|---|---|---|---|---|")

    def row(name: str, adapter: TaskAdapter, size: int, seconds: float) -> list[str]:
        """Print the trial's row; return the ids it flipped."""
        after = adapter.evaluate(gate)
        right_after = after.correct_by_id()
        flipped = [i for i, ok in right_before.items() if ok and not right_after.get(i)]
        fixes = sum(1 for i, ok in right_before.items() if not ok and right_after.get(i))
        print(f"| {name} | {size} | {baseline.metric:.3f} → {after.metric:.3f} | {len(flipped)} | {fixes} | "
              f"{seconds:.0f} |", flush=True)
        return flipped

    def fit(data: list[Example], seed_offset: int = 0) -> tuple[TaskAdapter, float]:
        started = time.perf_counter()
        adapter = adapter_for(manifest.task, dict(config.to_dict(), seed=config.seed + seed_offset))
        adapter.fit(data, start_from=production if recipe["warm_start"] else None)
        if recipe["blend"] < 1.0:
            adapter = adapter.blend(production, recipe["blend"])
        return adapter, time.perf_counter() - started

    reproduced, seconds = fit(train)
    flipped = row("as trained", reproduced, len(train), seconds)
    for name, keep in (("poison removed", {"base", "clean", "fixable"}), ("base + clean", {"base", "clean"})):
        subset = [e for e in train if category(e) in keep]
        adapter, seconds = fit(subset)
        row(name, adapter, len(subset), seconds)
    average = reproduced
    for k in range(1, args.seeds + 1):
        adapter, seconds = fit(train, seed_offset=k)
        row(f"seed +{k}", adapter, len(train), seconds)
        if args.averages and reproduced.warm_starts:
            average = average.blend(adapter, k / (k + 1))  # running mean: the k earlier fits weigh k / (k + 1)
            row(f"average of {k + 1}", average, len(train), 0.0)
    if production.warm_starts:
        for weight in args.blend:
            row(f"blend {weight:g}", reproduced.blend(production, weight), len(train), 0.0)
    print_flips_by_truth(flipped, reproduced, logs)
    return 0


def print_flips_by_truth(flipped: Sequence[str], candidate: TaskAdapter, logs: dict[str, SyntheticLog]) -> None:
    """The "as trained" candidate's flips by the example's ground truth, and whether its answer is right by the
    true output (a gate example's expected output is the log's feedback, poison included)."""
    from_logs = [logs[i] for i in flipped if i in logs]
    truth = candidate.evaluate([entry.example for entry in from_logs]).correct_by_id() if from_logs else {}
    found: Counter[tuple[str, str]] = Counter(
        (f"{e.category}/{e.kind}", "right" if truth[e.id] else "wrong") for e in from_logs
    )
    if len(flipped) > len(from_logs):
        found[("base data", "-")] = len(flipped) - len(from_logs)
    print(f"\n\"as trained\" flips by ground truth ({len(flipped)}): " + ", ".join(
        f"{name}: {n}" + ("" if verdict == "-" else f" ({verdict} by the true output)")
        for (name, verdict), n in sorted(found.items())
    ))


if __name__ == "__main__":
    sys.exit(main())
