"""Drift without labels: false alarms per 100,000 no-drift requests, and how soon planted drifts raise one.

Unlabelled traffic over CLINC150 (real texts, real all-MiniLM-L6-v2 embeddings): each request is a uniformly
drawn intent of the chosen domains and one of its texts; its region is the intent (what a classifier that
answers it right predicts). Confidences are synthetic: each region's are drawn from a Beta distribution with a
mean fixed per region between 0.6 and 0.95 (concentration 20). Every request goes through
:class:`~pioneer.judging.DriftWatch` with its defaults.

  no-drift       ``--streams`` streams of ``--events`` requests: every alarm is false.
  input shift    after ``--warmup`` requests one region's inputs become the texts of another intent of the same
                 domain (the model keeps predicting the old one): requests of that region until its alarm.
  confidence     after ``--warmup`` requests one region's mean confidence falls by ``--drop``.
  novel          after ``--warmup`` requests a held-back intent appears.

The ten domains are split in two (sorted names, the first five and the last five): ``--calibrate`` runs the
no-drift streams on the first five for a grid of thresholds (how :data:`~pioneer.judging.drift.SHIFT_THRESHOLD`
and :data:`~pioneer.judging.drift.CONFIDENCE_Z` were chosen: the smallest with no false alarm in 3 x 100,000);
the report runs on the last five.

    python scripts/bench_drift.py               # report: 3 x 100k no-drift + 10 trials of each planted drift
    python scripts/bench_drift.py --calibrate   # the grid on the calibration domains
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_clustering import DEFAULT_DATA, clinc_embeddings, load_clinc, rows_by_intent

from pioneer.judging import DriftWatch


class World:
    """The intents of one half of the domains, their texts' embeddings, and each region's confidence mean."""

    def __init__(self, data_dir: Path, half: int) -> None:
        data = load_clinc(data_dir)
        index, self.X = clinc_embeddings(data_dir)
        by_intent = rows_by_intent(data, index, ("train", "val", "test"))
        domains = json.loads((data_dir / "domains.json").read_text(encoding="utf-8"))
        names = sorted(domains)
        chosen = names[:5] if half == 0 else names[5:]
        self.domains = {d: sorted(domains[d]) for d in chosen}
        self.intents = [i for d in chosen for i in self.domains[d]]
        self.rows = {i: np.asarray(by_intent[i]) for i in self.intents}
        self.domain_of = {i: d for d, members in self.domains.items() for i in members}


class Plan:
    """One stream's draws: the intents served, the region drift hits, where its new inputs come from."""

    def __init__(self, world: World, rng: np.random.Generator, plant: str | None) -> None:
        self.intents = list(world.intents)
        self.novel = self.intents.pop(int(rng.integers(len(self.intents)))) if plant == "novel" else None
        self.mean = {i: float(rng.uniform(0.6, 0.95)) for i in world.intents}
        self.target = self.intents[int(rng.integers(len(self.intents)))]
        siblings = [i for i in world.domains[world.domain_of[self.target]] if i not in (self.target, self.novel)]
        self.source = siblings[int(rng.integers(len(siblings)))]
        self.planted = None if plant is None else self.novel or self.target


def run(world: World, seed: int, n: int, watch: DriftWatch, plant: str | None = None, at: int = 0,
        drop: float = 0.2) -> tuple[list, str | None, int | None]:
    """(alarms, planted region, its requests after the change until its alarm (None: missed)).

    ``plant``: ``input_shift``, ``confidence`` or ``novel``, from request ``at`` on."""
    rng = np.random.default_rng(seed)
    plan = Plan(world, rng, plant)
    seen_after, delay = 0, None
    for k in range(n):
        changed = plant is not None and k >= at
        pool = plan.intents + [plan.novel] if changed and plan.novel is not None else plan.intents
        intent = pool[int(rng.integers(len(pool)))]
        hit = changed and intent == plan.planted
        texts = world.rows[plan.source if hit and plant == "input_shift" else intent]
        m = plan.mean[intent] - (drop if hit and plant == "confidence" else 0.0)
        alarm = watch.observe(intent, world.X[texts[int(rng.integers(len(texts)))]],
                              float(rng.beta(20 * m, 20 * (1 - m))))
        if hit:
            seen_after += 1
            if alarm is not None and alarm.region == intent and delay is None:
                delay = seen_after
    return watch.alarms, plan.planted, delay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--streams", type=int, default=3)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=30_000)
    parser.add_argument("--after", type=int, default=20_000)
    parser.add_argument("--drop", type=float, default=0.2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    world = World(args.data, half=0 if args.calibrate else 1)
    print(f"domains: {', '.join(world.domains)} ({len(world.intents)} intents)")
    if args.calibrate:
        for threshold, z in ((1.5, 2.5), (2.0, 3.0), (3.0, 3.5), (4.0, 4.0), (6.0, 5.0)):
            counts = {"input_shift": 0, "confidence_drop": 0, "novel": 0}
            for s in range(args.streams):
                watch = DriftWatch(shift_threshold=threshold, confidence_z=z)
                for a in run(world, 100 + s, args.events, watch)[0]:
                    counts[a.signal] += 1
            per = {k: v * 100_000 / (args.streams * args.events) for k, v in counts.items()}
            print(f"shift_threshold {threshold:4.1f} confidence_z {z:3.1f}: false alarms per 100k {per}", flush=True)
        return
    figures: dict[str, object] = {}
    started, alarms = time.perf_counter(), []
    for s in range(args.streams):
        found = run(world, s, args.events, DriftWatch())[0]
        alarms += found
        print(f"no-drift stream {s}: {len(found)} alarms {[(a.region, a.signal) for a in found][:5]}", flush=True)
    total = args.streams * args.events
    rate = len(alarms) * 100_000 / total
    seconds = time.perf_counter() - started
    figures["no_drift"] = {"events": total, "false_alarms": len(alarms), "per_100k": rate,
                           "events_per_second": total / seconds}
    print(f"false alarms: {len(alarms)} in {total:,} no-drift requests = {rate:.2f} per 100,000 "
          f"({total / seconds:,.0f} requests/s)")
    for plant in ("input_shift", "confidence", "novel"):
        delays, missed, false = [], 0, 0
        for trial in range(args.trials):
            watch = DriftWatch()
            found, planted, delay = run(world, 1000 + trial, args.warmup + args.after, watch, plant=plant,
                                        at=args.warmup, drop=args.drop)
            false += sum(a.region != planted for a in found)
            if delay is None:
                missed += 1
            else:
                delays.append(delay)
        median = float(np.median(delays)) if delays else None
        figures[plant] = {"trials": args.trials, "missed": missed, "median_delay": median, "delays": delays,
                          "other_alarms": false}
        print(f"{plant:12s}: detected {args.trials - missed}/{args.trials}, median {median} requests of the "
              f"region after the change (all: {delays}); alarms elsewhere {false}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
