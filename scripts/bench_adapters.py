"""Throughput and quality of the task adapters at a few training sizes, on the shared datasets.

    python scripts/bench_adapters.py clinc150 --sizes 10,full --strategies head,finetune
    python scripts/bench_adapters.py conll2003 --sizes 500,2000 --set epochs=3 --test-limit 1000
    python scripts/bench_adapters.py arithmetic --sizes 200 --set epochs=2

Each run trains from the base model on a seeded subset (``--sizes``: examples per intent for CLINC150, sentences
for CoNLL-2003, questions for arithmetic; ``full`` = everything) and scores the held-out test split. One JSON
line per run goes to stdout (and ``--out``): fit seconds, training examples/s (examples × epochs / seconds),
prediction examples/s (uncached), the metric and its companions. Figures on a shared CPU are noisy; report
them with the command and the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Before torch loads: idle OpenMP threads sleep instead of spinning. On a shared 2-core machine spinning threads
# starve each other; measured here: 265 vs 47 predictions/s with 2 threads under load.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
STRATEGY_CONFIGS: dict[str, dict[str, Any]] = {
    "head": {"strategy": "head"},
    "finetune": {"strategy": "finetune"},
    "lora": {"strategy": "finetune", "use_lora": True, "learning_rate": 1e-3},
}


def make_parser(subparsers: Any = None) -> argparse.ArgumentParser:
    """The argument parser, standalone or as a subcommand (trl's ``make_parser`` shape)."""
    description = "Measure adapter throughput and held-out quality on the shared datasets."
    parser = (
        subparsers.add_parser("bench-adapters", description=description)
        if subparsers is not None
        else argparse.ArgumentParser(description=description)
    )
    parser.add_argument("dataset", choices=["clinc150", "conll2003", "restaurant8k", "arithmetic"])
    parser.add_argument("--sizes", default="10", help="Comma list of training sizes ('full' = all).")
    parser.add_argument("--strategies", default="head", help="clinc150 only: comma list of head, finetune, lora.")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                        help="Adapter config field (JSON value, else string), repeatable.")
    parser.add_argument("--test-limit", type=int, default=None, help="Score only the first N test examples.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's).")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="Folder holding the shared datasets.")
    parser.add_argument("--out", type=Path, default=None, help="Also append the JSON lines to this file.")
    parser.add_argument("--base-too", action="store_true", help="arithmetic: also score the untrained model.")
    parser.add_argument("--arith-max", type=int, default=49, help="arithmetic: largest operand.")
    parser.add_argument("--arith-ops", default="+-*", help="arithmetic: operators to draw from (+, -, *).")
    return parser


def _overrides(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, _, raw = item.partition("=")
        try:
            out[name] = json.loads(raw)
        except json.JSONDecodeError:
            out[name] = raw
    return out


def arithmetic_examples(n: int, *, seed: int, split: str, largest: int = 49, ops: str = "+-*") -> list[Any]:
    """Two-operand questions (+, −, ×) over small numbers; the target is the bare number."""
    from pioneer.training import Example

    rng = random.Random(f"arithmetic-{seed}-{split}-{largest}-{ops}")
    examples = []
    for i in range(n):
        a, b = rng.randint(1, largest), rng.randint(1, largest)
        op = rng.choice(ops)
        value = a + b if op == "+" else a - b if op == "-" else a * b
        word = {"+": "plus", "-": "minus", "*": "times"}[op]
        examples.append(Example(text=f"What is {a} {word} {b}?", target=str(value), id=f"arith:{split}:{i}"))
    return examples


def _data(args: argparse.Namespace) -> tuple[str, list[Any], list[Any]]:
    from pioneer.data import load_clinc150, load_conll, load_span_json

    if args.dataset == "clinc150":
        root = args.shared / "clinc150"
        return "classification", load_clinc150(root, "train"), load_clinc150(root, "test")
    if args.dataset == "conll2003":
        root = args.shared / "conll2003"
        return "entity_extraction", load_conll(root / "train.txt"), load_conll(root / "test.txt")
    if args.dataset == "restaurant8k":
        root = args.shared / "restaurant8k"
        return "entity_extraction", load_span_json(root / "train_0.json"), load_span_json(root / "test.json")
    kwargs = {"seed": args.seed, "largest": args.arith_max, "ops": args.arith_ops}
    return "generation", arithmetic_examples(5000, split="train", **kwargs), arithmetic_examples(200, split="test", **kwargs)


def _subset(dataset: str, train: list[Any], size: str, seed: int) -> list[Any]:
    from pioneer.data import subsample

    if size == "full":
        return train
    k = int(size)
    return subsample(train, per_label=k, seed=seed) if dataset == "clinc150" else subsample(train, n=k, seed=seed)


def run_one(task: str, config_values: dict[str, Any], train: list[Any], test: list[Any]) -> dict[str, Any]:
    """Fit, time prediction, evaluate; returns the measurements."""
    from pioneer.training import adapter_for

    adapter = adapter_for(task, config_values)
    started = time.perf_counter()
    adapter.fit(train)
    fit_seconds = time.perf_counter() - started
    texts = [e.text for e in test]
    started = time.perf_counter()
    adapter.predict(texts)
    predict_seconds = time.perf_counter() - started
    evaluation = adapter.evaluate(test)
    sample = {"sample": [p.text for p in evaluation.predictions[:5]]} if task == "generation" else {}
    return {
        "n_train": len(train),
        "n_test": len(test),
        "config": {k: v for k, v in dataclasses.asdict(adapter.config).items() if k in config_values},
        "fit_seconds": round(fit_seconds, 2),
        "train_examples_per_second": round(adapter.fit_stats_.get("examples_per_second", float("nan")), 1),
        "train_loss": adapter.fit_stats_.get("train_loss"),
        "predict_examples_per_second": round(len(test) / predict_seconds, 1),
        evaluation.metric_name: round(evaluation.metric, 4),
        **{k: round(v, 4) for k, v in evaluation.extra.items()},
        **sample,
    }


def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    task, train, test = _data(args)
    if args.test_limit:
        test = test[: args.test_limit]
    overrides = _overrides(args.overrides)
    strategies = args.strategies.split(",") if task == "classification" else ["default"]
    results = []
    if task == "generation" and args.base_too:
        from pioneer.training import GenerationAdapter, GenerationConfig

        base = GenerationAdapter(GenerationConfig(**overrides)).use_base_model()
        started = time.perf_counter()
        evaluation = base.evaluate(test)
        results.append({"dataset": args.dataset, "size": "base", "strategy": "untrained", "exact_match": evaluation.metric,
                        "n_test": len(test), "config": overrides,
                        "predict_examples_per_second": round(len(test) / (time.perf_counter() - started), 1),
                        "sample": [p.text for p in evaluation.predictions[:5]]})
        print(json.dumps(results[-1]), flush=True)
        if args.out:
            with args.out.open("a") as handle:
                handle.write(json.dumps(results[-1]) + "\n")
    for size in args.sizes.split(","):
        subset = _subset(args.dataset, train, size, args.seed)
        for strategy in strategies:
            values = {**STRATEGY_CONFIGS.get(strategy, {}), **overrides, "seed": args.seed}
            row = {"dataset": args.dataset, "size": size, "strategy": strategy, **run_one(task, values, subset, test),
                   "torch_threads": torch.get_num_threads(), "device": "cuda" if torch.cuda.is_available() else "cpu"}
            results.append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                with args.out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
    return results


if __name__ == "__main__":
    main(make_parser().parse_args(sys.argv[1:]))
