"""Negative flips on the gate set, on the regression set R and on held-out test data, side by side, on CLINC150.

    python scripts/flips_clinc150.py                      # 3 updates, 6,000 traffic queries from train
    python scripts/flips_clinc150.py --traffic-from test --share 0.8

A weak production head (5 queries per intent) is updated by a warm-started refit on more data, as a retrain
does. Traffic is the CLINC150 ``train`` queries no model was fitted on (``--traffic-from train``; held out: all of
``test``), or a hash-chosen half of ``test`` (``--traffic-from test``; held out: the other half, the same
distribution as R, which the bound speaks of). As in the retrainer, the gate set is 200 hash-chosen traffic
queries, and R is the reserved share of traffic (by request-id hash, never trained on) plus the gate set. Candidates: the refit itself, the fixed blends toward production, and the blend whose weight
is searched against R (BCWI). For each: flips on the gate set (what today's ε = 2 gate sees), on R (count, 95%
bound, the contract's verdict) and on CLINC150 ``test``, which no choice here sees.

Nothing is fitted to the figures reported: the only data-driven choice, which passing candidate to release
(highest accuracy), is made on CLINC150 ``val``; the flips and accuracy reported are on ``test``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
FIXED_BLENDS = (0.75, 0.6, 0.45, 0.3, 0.15)


def make_parser(subparsers: Any = None) -> argparse.ArgumentParser:
    description = "Gate-set, R and held-out test flips of CLINC150 head updates and their blends."
    parser = (
        subparsers.add_parser("flips-clinc150", description=description)
        if subparsers is not None
        else argparse.ArgumentParser(description=description)
    )
    parser.add_argument("--updates", type=int, default=3, help="Updates (seeds) to run.")
    parser.add_argument("--traffic", type=int, default=6000, help="Traffic queries (at most; never fitted on).")
    parser.add_argument("--traffic-from", choices=["train", "test"], default="train",
                        help="train: unfitted train queries, held out = test; test: half of test, held out = the rest.")
    parser.add_argument("--share", type=float, default=0.2, help="Reserved share of traffic (R).")
    parser.add_argument("--gate", type=int, default=200, help="Gate-set size (the retrainer's max_gate_passes).")
    parser.add_argument("--epsilon", type=lambda v: None if v == "none" else int(v), default=2,
                        help="Count limit of the contract on R ('none': the rate bound alone).")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    return parser


def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    from pioneer.data import load_clinc150, subsample
    from pioneer.retrain import stable_order
    from pioneer.traces import is_reserved
    from pioneer.training import ClassificationAdapter, ClassificationConfig

    clinc = args.shared / "clinc150"
    train, val, test = (load_clinc150(clinc, s) for s in ("train", "val", "test"))
    config = ClassificationConfig(num_threads=args.threads, progress_bar=False)
    production_data = subsample(train, per_label=5, seed=0)
    production = ClassificationAdapter(config).fit(production_data)
    rows = []
    for update in range(args.updates):
        update_data = subsample(train, per_label=15, seed=100 + update)
        fitted = {e.id for e in production_data} | {e.id for e in update_data}
        traffic, heldout = _traffic(args, [e for e in train if e.id not in fitted], test, update)
        reserved = [e for e in traffic if is_reserved(e.id, args.share)]
        by_id = {e.id: e for e in traffic if not is_reserved(e.id, args.share)}
        gate = [by_id[i] for i in stable_order(by_id, salt="passes:")[: args.gate]]
        r = list({e.id: e for e in [*reserved, *gate]}.values())

        refit = ClassificationAdapter(config).fit([*production_data, *update_data], start_from=production)
        rows += _judge_update(update, production, refit, gate, r, val, heldout, args.epsilon)
    _print(rows, args.traffic_from)
    return rows


def _traffic(args: argparse.Namespace, unfitted: list, test: list, update: int) -> tuple[list, list]:
    """(traffic R and the gate set come from, held-out set) as ``--traffic-from`` says."""
    from pioneer.data import subsample
    from pioneer.retrain import stable_order

    if args.traffic_from == "train":
        return subsample(unfitted, n=min(args.traffic, len(unfitted)), seed=200 + update), test
    order = stable_order([e.id for e in test], salt=f"traffic:{update}:")
    half = set(order[: len(order) // 2])
    return [e for e in test if e.id in half][: args.traffic], [e for e in test if e.id not in half]


def _judge_update(update: int, production: Any, refit: Any, gate: list, r: list, val: list, test: list,
                  epsilon: int | None) -> list[dict]:
    from pioneer.gates import FlipContract
    from pioneer.training.interpolation import WeightSearch

    contract = FlipContract(epsilon=epsilon)
    base = {name: production.evaluate(s).correct_by_id() for name, s in (("gate", gate), ("r", r), ("test", test))}

    def flips(adapter: Any, name: str, examples: list) -> tuple[int, int]:
        now = adapter.evaluate(examples).correct_by_id()
        return sum(1 for i, ok in base[name].items() if ok and not now[i]), sum(base[name].values())

    def on_r(adapter: Any) -> Any:
        return contract.judge(*flips(adapter, "r", r))

    candidates = [("refit", 1.0, refit)] + [(f"blend@{w:g}", w, refit.blend(production, w)) for w in FIXED_BLENDS]
    found = WeightSearch().search(lambda w: refit if w >= 1 else refit.blend(production, w), lambda a: on_r(a).passed)
    if found is not None:
        candidates.append((f"bcwi@{found[0]:.3g}", found[0], found[1]))
    rows = []
    for name, weight, adapter in candidates:
        g_flips, g_n = flips(adapter, "gate", gate)
        verdict = on_r(adapter)
        t_flips, t_n = flips(adapter, "test", test)
        rows.append({
            "update": update, "candidate": name, "weight": weight,
            "gate_flips": g_flips, "gate_right": g_n, "gate_eps2_passes": g_flips <= 2,
            "r_flips": verdict.flips, "r_right": verdict.n, "r_bound": round(verdict.bound, 5),
            "r_contract_passes": verdict.passed,
            "test_flips": t_flips, "test_right": t_n, "test_flip_rate": round(t_flips / t_n, 5),
            "val_accuracy": round(adapter.evaluate(val).metric, 4), "test_accuracy": round(adapter.evaluate(test).metric, 4),
        })
    rows.append({"update": update, "candidate": "production", "weight": 0.0, "test_accuracy":
                 round(production.evaluate(test).metric, 4), "val_accuracy": round(production.evaluate(val).metric, 4)})
    for rule, key in (("gate ε=2 alone", "gate_eps2_passes"), (f"R contract (ε={epsilon})", "r_contract_passes")):
        passing = [row for row in rows if row.get(key)]
        chosen = max(passing, key=lambda row: row["val_accuracy"]) if passing else None  # chosen on val
        rows.append({"update": update, "candidate": f"released by {rule}",
                     "chosen": None if chosen is None else chosen["candidate"],
                     "test_flips": None if chosen is None else chosen["test_flips"],
                     "test_accuracy": None if chosen is None else chosen["test_accuracy"]})
    return rows


def _print(rows: list[dict], traffic_from: str) -> None:
    if traffic_from == "train":
        print("CLINC150: R and the gate set are drawn from unfitted train queries; the release is chosen on val;")
        print("'test' columns: all of CLINC150 test, held out (a different split than R's).")
    else:
        print("CLINC150: R and the gate set are drawn from a hash half of test; the release is chosen on val;")
        print("'test' columns: the other half of CLINC150 test, held out (the same distribution as R).")
    head = f"{'upd':>3} {'candidate':<26} {'gate flips':>11} {'R flips':>11} {'R 95% bound':>11} {'R ok':>5}"
    print(head + f" {'test flips':>12} {'test acc':>8} {'val acc':>8}")
    for row in rows:
        if "chosen" in row:
            print(f"{row['update']:>3} {row['candidate']:<26} -> {row['chosen']}: test flips {row['test_flips']},"
                  f" test accuracy {row['test_accuracy']}")
        elif "gate_flips" in row:
            print(f"{row['update']:>3} {row['candidate']:<26} {row['gate_flips']:>4}/{row['gate_right']:<6}"
                  f" {row['r_flips']:>4}/{row['r_right']:<6} {100 * row['r_bound']:>10.2f}%"
                  f" {'yes' if row['r_contract_passes'] else 'no':>5} {row['test_flips']:>5}/{row['test_right']:<6}"
                  f" {row['test_accuracy']:>8.4f} {row['val_accuracy']:>8.4f}")
        else:
            print(f"{row['update']:>3} {row['candidate']:<26} {'':>11} {'':>11} {'':>11} {'':>5} {'':>12}"
                  f" {row['test_accuracy']:>8.4f} {row['val_accuracy']:>8.4f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main(make_parser().parse_args(sys.argv[1:]))
