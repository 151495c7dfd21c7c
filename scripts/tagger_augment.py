"""Does mention replacement (Dai & Adel, "An Analysis of Simple Data Augmentation for Named Entity Recognition",
COLING 2020) lift a tagger fitted on teacher-labelled sentences?

Measured on cold start's exploration draw, which no bench cell uses (see scripts/tagger_soup.py): a seed-7 draw
of CoNLL-2003, 20 user sentences and 150 labelled by the simulated teacher at 20% error, scored on the next 200
sentences of the same draw of the *training* split (never a test split). Each fit is the default tagger on the
170 sentences, alone or with ``--copies`` mention-replaced copies of each: each copy replaces each mention,
with probability ``SHARE``, by another mention of the same type from the 170; a copy in which nothing changed
is not kept. Measured and not kept in cold start (docs/coldstart.md).

    nice -n 5 python scripts/tagger_augment.py --seeds 0 1 --copies 0 1 2 --out augment.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tagger_soup import exploration_draw, fit

from pioneer.events import Span
from pioneer.training.base import Example

SHARE = 0.5
"""Chance that a mention is replaced in a copy: the middle of the range Dai & Adel tried (0.1-0.7)."""


def mention_lexicon(examples: Sequence[Example]) -> dict[str, list[str]]:
    """The distinct mention texts of each entity type, in order of first appearance."""
    seen: dict[str, dict[str, None]] = defaultdict(dict)
    for example in examples:
        for span in example.spans or ():
            seen[span.label].setdefault(example.text[span.start:span.end], None)
    return {label: list(mentions) for label, mentions in seen.items()}


def replace_mentions(examples: Sequence[Example], *, copies: int = 1, share: float = SHARE,
                     seed: int = 0) -> list[Example]:
    """Up to ``copies`` mention-replaced copies of each example (ids ``<id>~mr<k>``); the originals are not
    included. Deterministic for a seed and the examples' ids."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share={share!r} must be in (0, 1]")
    lexicon = mention_lexicon(examples)
    out: list[Example] = []
    for example in examples:
        spans = sorted(example.spans or (), key=lambda s: s.start)
        if not spans or _overlapping(spans):
            continue
        for k in range(copies):
            rng = random.Random(_seed(seed, example.id, k))
            copy = _replaced(example, spans, lexicon, rng, share)
            if copy is not None:
                out.append(dataclasses.replace(copy, id=f"{example.id}~mr{k}"))
    return out


def _replaced(example: Example, spans: list[Span], lexicon: dict[str, list[str]], rng: random.Random,
              share: float) -> Example | None:
    text, pieces, new_spans, cursor, changed = example.text, [], [], 0, False
    for span in spans:
        pieces.append(text[cursor:span.start])
        mention = text[span.start:span.end]
        others = [m for m in lexicon.get(span.label, ()) if m != mention]
        if others and rng.random() < share:
            mention, changed = rng.choice(others), True
        start = sum(len(p) for p in pieces)
        pieces.append(mention)
        new_spans.append(Span(start=start, end=start + len(mention), label=span.label, text=mention))
        cursor = span.end
    if not changed:
        return None
    pieces.append(text[cursor:])
    return dataclasses.replace(example, text="".join(pieces), spans=tuple(new_spans))


def _overlapping(spans: list[Span]) -> bool:
    return any(b.start < a.end for a, b in itertools.pairwise(spans))


def _seed(seed: int, example_id: str, copy: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{example_id}:{copy}".encode()).digest()[:8], "big")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--copies", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--out", type=Path, required=True, help="JSON lines of every figure, appended as they come")
    args = parser.parse_args()
    train, scored, wrong = exploration_draw(args.datasets)
    print(f"{len(train)} training sentences ({wrong} teacher answers wrong), {len(scored)} scored", flush=True)
    for copies in args.copies:
        extra = replace_mentions(train, copies=copies) if copies else []
        for seed in args.seeds:
            started = time.monotonic()
            model = fit([*train, *extra], seed, shared_init=False)
            row = {"copies": copies, "added": len(extra), "seed": seed, "f1": round(model.evaluate(scored).metric, 4),
                   "seconds": round(time.monotonic() - started, 1)}
            print(json.dumps(row), flush=True)
            with args.out.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
