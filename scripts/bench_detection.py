"""Detection benchmark: delay to an emerging pattern for planted patterns, false patterns on no-drift traffic.

An emerging pattern that holds failures of the serving version is the trigger's "new_patterns" evidence: the
trigger requests a retrain for it as soon as the trainer is free (``pioneer.trigger.pacing``). Requests for
failures as a whole (a model failing steadily) are the trigger's decision, not the detector's, and are not
counted here: on this benchmark's stationary base error they are wanted, not false.

Traffic is simulated over CLINC150 (real texts, real all-MiniLM-L6-v2 embeddings): each labelled trace is a
uniformly drawn intent and one of its texts, ``--rate`` traces per second of event time. A stationary simulated
classifier fails at random on ``--base-error`` of traffic (random wrong intent) and, on ``--hard`` fixed
"hard" intents, ``--hard-error`` of the time towards a fixed sibling intent of the same domain: long-standing
weaknesses that are *not* emerging. Every failure and a ``--pass-sample`` share of passes is embedded and fed,
as the monitor does: every ``--check-every`` seconds of event time the batch goes through
``IncrementalClusterer.learn_many``, then ``snapshot`` -> ``EmergingPatternDetector.update``, with default
parameters (clusters decay per trace, as in the monitor).

  no-drift   ``--streams`` streams of ``--events`` traces: every new emerging pattern is a false trigger.
  planted    ``--trials`` streams: ``--warmup`` traces of no-drift traffic, then one (not hard) intent starts
             failing ``--strength`` of the time towards a fixed wrong intent. Delay = failures of that intent from
             the first planted failure up to the first emerging pattern whose dominant confusion is that
             intent. New emerging patterns for anything else (before or after) are false triggers.

    python scripts/bench_detection.py            # 3 x 100k no-drift + 10 planted trials (~10 min on 2 busy cores)
    python scripts/bench_detection.py --quick    # 1 x 30k no-drift + 3 trials
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_clustering import DEFAULT_DATA, clinc_embeddings, load_clinc, rows_by_intent  # noqa: E402

from pioneer.clustering import IncrementalClusterer  # noqa: E402
from pioneer.events import ErrorPattern, EventCodec, ModelRef  # noqa: E402
from pioneer.monitor import HALF_LIFE_TRACES, RECENT_HALF_LIFE_TRACES  # noqa: E402
from pioneer.trigger import EmergingPatternDetector  # noqa: E402

MODEL = ModelRef(name="clinc-intents", version="sha256-bench0000")
T_START = 1_767_225_600.0  # 2026-01-01, any Unix time works


@dataclass
class World:
    """CLINC150 texts per intent, their embeddings and the domain of each intent."""

    intents: list[str]
    pools: list[np.ndarray]
    X: np.ndarray
    texts: list[str]
    domain_of: dict[str, str]


@dataclass
class Stream:
    """One simulated stream of labelled traces, as arrays (row i is trace i)."""

    times: np.ndarray
    rows: np.ndarray
    expected: np.ndarray
    predicted: np.ndarray
    failed: np.ndarray
    sampled: np.ndarray
    planted: int | None = None
    planted_from: int | None = None


@dataclass
class Outcome:
    events: int
    false_triggers: list[tuple[float, str]] = field(default_factory=list)
    false_emerging: int = 0
    detected_after: int | None = None
    detected_seconds: float | None = None
    planted_failures: int = 0
    check_seconds: float = 0.0
    checks: int = 0


def build_world(data_dir: Path, model: str | None) -> World:
    data = load_clinc(data_dir)
    index, X = clinc_embeddings(data_dir, model)
    by_intent = rows_by_intent(data, index, ("train", "val", "test"))
    intents = sorted(by_intent)
    with open(data_dir / "domains.json", encoding="utf-8") as fh:
        domains = json.load(fh)
    domain_of = {intent: dom for dom, members in domains.items() for intent in members}
    texts = [""] * len(index)
    for text, i in index.items():
        texts[i] = text
    return World(intents, [np.asarray(by_intent[i]) for i in intents], X, texts, domain_of)


def simulate(world: World, args: argparse.Namespace, *, seed: int, n: int, plant_at: int | None) -> Stream:
    rng = np.random.default_rng(seed)
    k = len(world.intents)
    error = np.full(k, args.base_error)
    confuser = np.full(k, -1)
    hard = rng.choice(k, args.hard, replace=False)
    for h in hard:
        siblings = [j for j in range(k) if j != h and world.domain_of.get(world.intents[j]) == world.domain_of.get(world.intents[h])]
        confuser[h] = rng.choice(siblings) if siblings else (h + 1) % k
        error[h] = args.hard_error
    times = T_START + np.cumsum(rng.exponential(1.0 / args.rate, n))
    expected = rng.integers(0, k, n)
    rows = np.array([world.pools[e][rng.integers(len(world.pools[e]))] for e in expected])
    u = rng.random(n)
    failed = u < error[expected]
    wrong = (expected + rng.integers(1, k, n)) % k
    predicted = np.where(failed, np.where(confuser[expected] >= 0, confuser[expected], wrong), expected)
    planted = None
    if plant_at is not None:
        candidates = np.setdiff1d(np.arange(k), hard)
        planted = int(rng.choice(candidates))
        target = int(rng.choice(np.setdiff1d(np.arange(k), [planted])))
        after = (np.arange(n) >= plant_at) & (expected == planted)
        hit = after & (rng.random(n) < args.strength)
        failed = failed | hit
        predicted = np.where(hit, target, predicted)
    sampled = ~failed & (rng.random(n) < args.pass_sample)
    return Stream(times, rows, expected, predicted, failed, sampled, planted, plant_at)


def dominant_expected(event: ErrorPattern) -> str | None:
    if event.confusions:
        return event.confusions[0].expected
    labels = [e.expected for e in event.exemplars if e.expected]
    return max(set(labels), key=labels.count) if labels else None


def run_stream(world: World, stream: Stream, args: argparse.Namespace, codec: EventCodec) -> Outcome:
    clu = IncrementalClusterer(pass_sample_rate=args.pass_sample, half_life=HALF_LIFE_TRACES,
                               recent_half_life=RECENT_HALF_LIFE_TRACES, seed=0)
    det = EmergingPatternDetector(heartbeat=RECENT_HALF_LIFE_TRACES)
    out = Outcome(events=len(stream.times))
    latest: dict[str, ErrorPattern] = {}
    fed = stream.failed | stream.sampled
    bounds = np.searchsorted(stream.times, np.arange(stream.times[0], stream.times[-1] + args.check_every, args.check_every), side="right")
    start = 0
    planted_name = world.intents[stream.planted] if stream.planted is not None else None
    for stop in bounds.tolist():
        if stop <= start:
            continue
        idx = np.flatnonzero(fed[start:stop]) + start
        if idx.size:
            clu.learn_many(
                world.X[stream.rows[idx]],
                t=idx.astype(np.float64) + 1.0,  # the monitor's clock: one tick per trace
                failed=stream.failed[idx],
                request_ids=[f"req-{i}" for i in idx.tolist()],
                texts=[world.texts[r] for r in stream.rows[idx].tolist()],
                expected=[world.intents[e] for e in stream.expected[idx].tolist()],
                predicted=[world.intents[p] for p in stream.predicted[idx].tolist()],
            )
        now = float(stream.times[stop - 1] - T_START)
        start = stop
        if not clu.n_updates_:
            continue
        t0 = time.perf_counter()
        det.update(clu.snapshot(float(stop)), model=MODEL)
        out.check_seconds += time.perf_counter() - t0
        out.checks += 1
        for ev in det.fired:
            codec.encode(ev)  # every event must satisfy its schema
            latest[ev.pattern_id] = ev
            planted_pattern = stream.planted_from is not None and stop > stream.planted_from and dominant_expected(ev) == planted_name
            if ev.emerging and ev.event_id.endswith("-000001") and not planted_pattern:
                out.false_emerging += 1
        for ev in det.fired:
            if not (ev.emerging and ev.event_id.endswith("-000001")):
                continue
            if judge(ev, latest, stream, stop, planted_name):
                if out.detected_after is None:
                    mask = (np.arange(stop) >= stream.planted_from) & (stream.expected[:stop] == stream.planted) & stream.failed[:stop]
                    out.detected_after = int(mask.sum())
                    first = np.flatnonzero(mask)
                    out.detected_seconds = float(stream.times[stop - 1] - stream.times[first[0]]) if first.size else 0.0
            else:
                out.false_triggers.append((now, ev.name))
    if stream.planted is not None:
        out.planted_failures = int(((np.arange(len(stream.times)) >= stream.planted_from) & (stream.expected == stream.planted) & stream.failed).sum())
    return out


def judge(ev: ErrorPattern, latest: dict[str, ErrorPattern], stream: Stream, stop: int, planted_name: str | None) -> bool:
    """A new emerging pattern is a true detection when the planted pattern has started and it is that pattern."""
    if planted_name is None or stream.planted_from is None or stop <= stream.planted_from:
        return False
    return dominant_expected(latest[ev.pattern_id]) == planted_name


def make_parser(subparsers: Any = None) -> argparse.ArgumentParser:
    kwargs = dict(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser = subparsers.add_parser("bench-detection", **kwargs) if subparsers else argparse.ArgumentParser(**kwargs)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CLINC150 folder")
    parser.add_argument("--model", default=None, help="embedding model id or path (default: offline MiniLM)")
    parser.add_argument("--streams", type=int, default=3, help="no-drift streams")
    parser.add_argument("--events", type=int, default=100_000, help="traces per no-drift stream")
    parser.add_argument("--trials", type=int, default=10, help="planted-pattern streams")
    parser.add_argument("--warmup", type=int, default=60_000, help="no-drift traces before the pattern starts")
    parser.add_argument("--after", type=int, default=30_000, help="traces after the pattern starts")
    parser.add_argument("--rate", type=float, default=2.0, help="traces per second of event time")
    parser.add_argument("--base-error", type=float, default=0.03, help="random error rate of the simulated model")
    parser.add_argument("--hard", type=int, default=15, help="intents with a standing (not emerging) weakness")
    parser.add_argument("--hard-error", type=float, default=0.25, help="error rate on the hard intents")
    parser.add_argument("--strength", type=float, default=0.5, help="failure rate of the planted intent")
    parser.add_argument("--pass-sample", type=float, default=0.1, help="share of passes embedded")
    parser.add_argument("--check-every", type=float, default=60.0, help="seconds of event time between checks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--quick", action="store_true", help="1 x 30k no-drift events, 3 trials with 40k warm-up")
    return parser


def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:
        args.streams, args.events, args.trials, args.warmup, args.after = 1, 30_000, 3, 40_000, 20_000
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    world = build_world(args.data, args.model)
    codec = EventCodec()
    print(f"traffic: {args.rate:g} traces/s, base error {args.base_error:.0%}, {args.hard} hard intents at "
          f"{args.hard_error:.0%}, passes sampled at {args.pass_sample:.0%}, checks every {args.check_every:g} s")
    total_events, false_triggers, false_emerging, check_s, checks = 0, 0, 0, 0.0, 0
    print(f"\nno-drift: {args.streams} x {args.events:,} traces")
    for s in range(args.streams):
        stream = simulate(world, args, seed=args.seed + s, n=args.events, plant_at=None)
        out = run_stream(world, stream, args, codec)
        total_events += out.events
        false_triggers += len(out.false_triggers)
        false_emerging += out.false_emerging
        check_s, checks = check_s + out.check_seconds, checks + out.checks
        print(f"  stream {s}: {out.events:,} traces, {int(stream.failed.sum()):,} failures, "
              f"{len(out.false_triggers)} new emerging patterns "
              f"{[n for _, n in out.false_triggers][:3]}", flush=True)
    delays, seconds, missed = [], [], 0
    print(f"\nplanted: {args.trials} trials, {args.warmup:,} no-drift traces then one intent fails {args.strength:.0%}")
    for trial in range(args.trials):
        stream = simulate(world, args, seed=1000 + args.seed + trial, n=args.warmup + args.after, plant_at=args.warmup)
        out = run_stream(world, stream, args, codec)
        total_events += out.events
        false_triggers += len(out.false_triggers)
        false_emerging += out.false_emerging
        check_s, checks = check_s + out.check_seconds, checks + out.checks
        name = world.intents[stream.planted]
        if out.detected_after is None:
            missed += 1
            verdict = f"missed ({out.planted_failures} failures)"
        else:
            delays.append(out.detected_after)
            seconds.append(out.detected_seconds)
            verdict = f"emerging after {out.detected_after} failures ({out.detected_seconds / 60:.0f} min)"
        print(f"  trial {trial}: {name:<24} {verdict}; false patterns {len(out.false_triggers)}", flush=True)
    per_100k = false_triggers / total_events * 1e5
    print("\nsummary")
    if delays:
        print(f"  delay to the emerging pattern: median {np.median(delays):.0f}, max {max(delays)} failures of the pattern "
              f"(median {np.median(seconds) / 60:.0f} min); detected {len(delays)}/{args.trials}")
    else:
        print(f"  no planted pattern detected ({missed}/{args.trials} missed)")
    print(f"  false emerging patterns: {false_triggers} in {total_events:,} traces = {per_100k:.2f} per 100,000")
    print(f"  check cost (snapshot + detector): {1e3 * check_s / max(checks, 1):.1f} ms per check")
    result = {
        "delays": delays, "delay_seconds": seconds, "missed": missed, "false_triggers": false_triggers,
        "events": total_events, "false_triggers_per_100k": per_100k, "false_emerging": false_emerging,
        "ms_per_check": 1e3 * check_s / max(checks, 1),
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(make_parser().parse_args())
