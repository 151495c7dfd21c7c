"""Which way of updating an entity tagger breaks fewest sentences that worked, at equal gain (CoNLL-2003).

    python scripts/flip_methods_tagger.py            # choose on CoNLL-2003 dev; the deployments report on test

A weak tagger (150 seeded training sentences: the deployment's weak model) is updated, warm-started, with the
next ``--update`` training sentences. Each method's entity F1, broken sentences (right before, wrong after) and
fixed sentences are counted on CoNLL-2003 ``dev``, which neither the deployments nor their ceilings report on:

- refit: the warm-started tagger as trained;
- blend w: its weights interpolated toward the old tagger (BCWI);
- threshold t: the refit keeping only entities whose tags' mean probability reaches t;
- with ``--from-base``, also a fit of the same data from the base model, and its blends toward the old tagger
  (both fits start from the same pretrained encoder and the same seeded head).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import random
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DEFAULT_CONLL = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "conll2003"


def counts(old_right: list[bool], right: list[bool]) -> tuple[int, int]:
    """(broken, fixed) sentences."""
    broken = sum(1 for a, b in zip(old_right, right, strict=True) if a and not b)
    fixed = sum(1 for a, b in zip(old_right, right, strict=True) if b and not a)
    return broken, fixed


def main() -> None:
    from pioneer.data import load_conll
    from pioneer.metrics import span_scores, spans_match
    from pioneer.training import EntityExtractionAdapter, EntityExtractionConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conll", type=Path, default=DEFAULT_CONLL)
    parser.add_argument("--update", type=int, default=1000, help="training sentences added by the update")
    parser.add_argument("--dev", type=int, default=1500, help="dev sentences counted (seeded sample)")
    parser.add_argument("--from-base", action="store_true", help="also blend a fit from the base model")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    train = load_conll(args.conll / "train.txt", id_prefix="train")
    dev = load_conll(args.conll / "dev.txt", id_prefix="dev")
    random.Random(0).shuffle(train)
    dev = random.Random(1).sample(dev, min(args.dev, len(dev)))
    old_data, update = train[:150], train[: 150 + args.update]
    config = EntityExtractionConfig(progress_bar=False)
    old = EntityExtractionAdapter(config).fit(old_data)
    gold = [list(e.spans or ()) for e in dev]
    old_spans = old.predict_spans([e.text for e in dev])
    old_right = [spans_match(p, g) for p, g in zip(old_spans, gold, strict=True)]
    rows: list[dict] = []

    def record(name: str, spans: list, seconds: float = 0.0) -> None:
        right = [spans_match(p, g) for p, g in zip(spans, gold, strict=True)]
        broken, fixed = counts(old_right, right)
        f1 = span_scores(spans, gold).f1
        rows.append({"method": name, "f1": round(f1, 4), "broken": broken, "fixed": fixed, "seconds": round(seconds)})
        print(f"{name:<18} F1 {f1:.4f}  broken {broken:>3}  fixed {fixed:>4}  ({seconds:.0f} s)", flush=True)

    record("old", old_spans)
    began = time.monotonic()
    refit = EntityExtractionAdapter(config).fit(update, start_from=old)
    new_spans = refit.predict_spans([e.text for e in dev])
    record("refit", new_spans, time.monotonic() - began)
    broken = [i for i, (r, p) in enumerate(zip(old_right, new_spans, strict=True)) if r and not spans_match(p, gold[i])]
    print(f"refit broke {len(broken)} sentences, {sum(1 for i in broken if not gold[i])} of them with no entity:")
    for i in broken[:12]:
        print(f"  {dev[i].text[:80]!r} gold {[(s.text, s.label) for s in gold[i]]} "
              f"new {[(s.text, s.label) for s in new_spans[i]]}")
    for threshold in (0.6, 0.8, 0.9):
        strict = copy.copy(refit)
        strict.config = dataclasses.replace(refit.config, entity_threshold=threshold)
        record(f"threshold {threshold}", strict.predict_spans([e.text for e in dev]))
    for weight in (0.3, 0.5, 0.7):
        record(f"blend {weight}", refit.blend(old, weight).predict_spans([e.text for e in dev]))
    if args.from_base:
        began = time.monotonic()
        cold = EntityExtractionAdapter(config).fit(update)
        record("from base", cold.predict_spans([e.text for e in dev]), time.monotonic() - began)
        for weight in (0.3, 0.5, 0.7):
            record(f"from base, blend {weight}", cold.blend(old, weight).predict_spans([e.text for e in dev]))
    print(f"old right on {sum(old_right)} of {len(dev)} dev sentences; "
          f"{sum(1 for r, g in zip(old_right, gold, strict=True) if r and not g)} of them have no entity")
    if args.json:
        args.json.write_text(json.dumps({"old_right": sum(old_right), "n": len(dev), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
