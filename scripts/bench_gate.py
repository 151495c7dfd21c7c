"""Seconds to gate a classification head on a regression set R of 10,000 examples, beside the ceiling.

    python scripts/bench_gate.py                 # 10,000 CLINC150 queries, 4 refitted heads, 4 blends
    python scripts/bench_gate.py --n 2000 --candidates 2

R is embedded once (production's evaluation, through the content-keyed embedding cache); every candidate head
then scores R from the cached embeddings and the flip contract judges it. The ceiling printed beside it is the
raw encoder time for the same examples: the cost one uncached pass over R would take per candidate. Embeddings
go to a private PIONEER_HOME (the converted models are shared), so a run starts cold. Figures on a shared CPU
are noisy; report them with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep: a shared CPU is not starved

DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def make_parser(subparsers: Any = None) -> argparse.ArgumentParser:
    description = "Time the regression-set gate of classification heads against the raw encoder time."
    parser = (
        subparsers.add_parser("bench-gate", description=description)
        if subparsers is not None
        else argparse.ArgumentParser(description=description)
    )
    parser.add_argument("--n", type=int, default=10_000, help="Examples in R.")
    parser.add_argument("--candidates", type=int, default=4, help="Refitted heads to gate (each also blended).")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's).")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="Folder holding the shared datasets.")
    return parser


def main(args: argparse.Namespace) -> dict[str, Any]:
    from pioneer.settings import Paths

    shared_models = Paths.from_env().cache / "models"
    with tempfile.TemporaryDirectory(prefix="pioneer-bench-gate-") as home:
        (Path(home) / "cache").mkdir()
        (Path(home) / "cache" / "models").symlink_to(shared_models, target_is_directory=True)
        os.environ["PIONEER_HOME"] = home
        return _run(args)


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from pioneer.data import load_clinc150, subsample
    from pioneer.gates import FlipContract
    from pioneer.training import ClassificationAdapter, ClassificationConfig

    clinc = args.shared / "clinc150"
    train = load_clinc150(clinc, "train")
    fit_pool = subsample(train, per_label=20, seed=0)
    used = {e.id for e in fit_pool}
    pool = [e for e in train if e.id not in used] + load_clinc150(clinc, "val") + load_clinc150(clinc, "test")
    if args.n > len(pool):
        raise SystemExit(f"--n {args.n}: only {len(pool)} CLINC150 queries outside the fitting data")
    r = subsample(pool, n=args.n, seed=1)
    config = ClassificationConfig(num_threads=args.threads, progress_bar=False)

    production = ClassificationAdapter(config).fit(subsample(fit_pool, per_label=5, seed=1))
    candidates = [
        ClassificationAdapter(config).fit(subsample(fit_pool, per_label=10 + 2 * k, seed=10 + k), start_from=production)
        for k in range(args.candidates)
    ]
    blends = [c.blend(production, 0.5) for c in candidates]

    encoder = [0.0]
    raw_embed = production._embed

    def timed_embed(texts: list[str], **kwargs: Any) -> Any:  # the raw encoder, timed alone
        began = time.perf_counter()
        out = raw_embed(texts, **kwargs)
        encoder[0] += time.perf_counter() - began
        return out

    production._embed = timed_embed  # type: ignore[method-assign]
    began = time.perf_counter()
    base = production.evaluate(r).correct_by_id()
    first = time.perf_counter() - began
    right = sum(base.values())
    contract = FlipContract()

    def gate(adapter: Any) -> tuple[float, int]:
        began = time.perf_counter()
        on_r = adapter.evaluate(r).correct_by_id()
        verdict = contract.judge(sum(1 for i, ok in base.items() if ok and not on_r[i]), right)
        return time.perf_counter() - began, verdict.flips

    heads = [gate(c) for c in candidates]
    mixed = [gate(b) for b in blends]
    figures = {
        "examples": len(r),
        "encoder_seconds_ceiling": round(encoder[0], 3),
        "embed_once_seconds": round(first, 3),
        "gate_seconds_per_head_median": round(statistics.median(s for s, _ in heads), 4),
        "gate_seconds_per_blend_median": round(statistics.median(s for s, _ in mixed), 4),
        "flips_per_head": [f for _, f in heads],
        "flips_per_blend_at_0.5": [f for _, f in mixed],
        "production_right": right,
    }
    print(f"R = {len(r)} CLINC150 queries; production right on {right}")
    print(f"  raw encoder over R (ceiling: one uncached pass)   {figures['encoder_seconds_ceiling']:8.3f} s")
    print(f"  embed R once + score production                   {figures['embed_once_seconds']:8.3f} s")
    print(f"  gate one refitted head (cached embeddings)        {figures['gate_seconds_per_head_median']:8.4f} s"
          f"   (median of {len(heads)})")
    print(f"  gate one blend (cached embeddings)                {figures['gate_seconds_per_blend_median']:8.4f} s"
          f"   (median of {len(mixed)})")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main(make_parser().parse_args(sys.argv[1:]))
