"""Entity extraction sources: CoNLL-2003 (news entities) and Restaurant-8k (booking slots).

Noise keeps every span pointing at its words (:mod:`pioneer.bench.noise`). Drift is casing: the whole request
lower-cased, which takes away the capitalisation an extractor leans on (the words and the answer stay the same).
A clustered flip relabels every entity of one type as another in the flipped logs (a labeller who files every
location under organisations), the poison counterpart of a systematic real error.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from pioneer.bench import noise
from pioneer.bench.sources.base import BaseSets, Noised, Pool, TaskSource
from pioneer.events import Output, Span
from pioneer.training.base import Example

DISTRACTORS = ("(ref {n})", "- ticket {n}", "[id {n}]", "#{n}")
_WORD = re.compile(r"\b[A-Za-z][A-Za-z'-]+\b")


class EntitySource(TaskSource):
    """Entity-extraction traffic over given pools. See the module docstring.

    Parameters
    ----------
    base, validation, gate, traffic
        Disjoint pools: the base model's data and the clean traffic.
    types
        The entity types.
    flip
        (source type, target type) of the clustered flips.
    seed
        Seed of the traffic order.
    """

    task: ClassVar[str] = "entity_extraction"
    kinds: ClassVar[frozenset[str]] = frozenset(
        {"typo", "truncation", "preamble", "number_distractor", "paraphrase_drift",
         "mislabel", "clustered_flip", "prompt_injection", "jailbreak"}
    )

    def __init__(
        self,
        *,
        base: Sequence[Example],
        validation: Sequence[Example],
        gate: Sequence[Example],
        traffic: Sequence[Example],
        types: Sequence[str],
        flip: tuple[str, str],
        seed: int = 0,
    ) -> None:
        self._sets = BaseSets(list(base), list(validation), list(gate))
        self.types = list(types)
        self.flip = flip
        has_src = [e for e in traffic if any(s.label == flip[0] for s in e.spans or ())]
        self._flip_pool = Pool(has_src[: len(has_src) // 2], f"{seed}-flip", f"traffic with {flip[0]}")
        reserved = {e.id for e in has_src[: len(has_src) // 2]}
        self._traffic = Pool([e for e in traffic if e.id not in reserved], f"{seed}-traffic", "traffic")

    def base_sets(self) -> BaseSets:
        return self._sets

    def clean(self, rng: random.Random, split: str = "train") -> Example:
        return self._traffic.take()

    def answer_text(self, output: Output) -> str:
        return "every name is " + (output.spans[0].label if output.spans else "nothing")

    def wrong(self, example: Example, rng: random.Random) -> Output:
        spans = list(example.spans or ())
        if spans and rng.random() < 0.7:
            i = rng.randrange(len(spans))
            if rng.random() < 0.6:  # a wrong type
                other = rng.choice([t for t in self.types if t != spans[i].label])
                spans[i] = dataclasses.replace(spans[i], label=other)
            else:  # a missed entity
                spans.pop(i)
            return Output(spans=spans)
        # a spurious entity over a word outside every span
        free = [m for m in _WORD.finditer(example.text)
                if all(s.end <= m.start() or s.start >= m.end() for s in spans)]
        if not free:
            return Output(spans=spans[1:] if spans else [])
        word = rng.choice(free)
        spans.append(Span(start=word.start(), end=word.end(), label=rng.choice(self.types), text=word.group()))
        return Output(spans=sorted(spans, key=lambda s: (s.start, s.end)))

    def specific(self, kind: str, rng: random.Random, split: str = "train") -> Noised | None:
        if kind == "paraphrase_drift":
            example = noise.lowercase(self._traffic.take())
            return Noised(example, example.expected(), pattern="casing")
        if kind == "number_distractor":
            example = self._traffic.take()
            moved = noise.append(example, rng.choice(DISTRACTORS).format(n=rng.randint(100, 99999)))
            return Noised(moved, moved.expected())
        if kind == "clustered_flip":
            if len(self._flip_pool) == 0:
                return None
            example = self._flip_pool.take()
            src, dst = self.flip
            spans = [dataclasses.replace(s, label=dst) if s.label == src else s for s in example.spans or ()]
            return Noised(example, Output(spans=spans), pattern=f"flip:{src}->{dst}")
        return None


def _split(examples: list[Example], seed: int, sizes: tuple[int, ...]) -> list[list[Example]]:
    order = list(examples)
    random.Random(seed).shuffle(order)
    out, at = [], 0
    for size in sizes:
        out.append(order[at : at + size])
        at += size
    out.append(order[at:])
    return out


def conll2003_source(
    folder: str | Path, *, base: int, validation: int = 200, gate: int = 300, seed: int = 0,
) -> EntitySource:
    """CoNLL-2003: ``base`` seeded training sentences; validation and gate from ``dev.txt``; traffic from the rest
    of ``train.txt``; clustered flips LOC -> ORG."""
    from pioneer.data import load_conll

    folder = Path(folder)
    train = [e for e in load_conll(folder / "train.txt", id_prefix="conll:train") if len(e.text.split()) >= 3]
    dev = [e for e in load_conll(folder / "dev.txt", id_prefix="conll:dev") if len(e.text.split()) >= 3]
    base_set, traffic = _split(train, seed, (base,))
    val_set, gate_set, _ = _split(dev, seed + 1, (validation, gate))
    return EntitySource(base=base_set, validation=val_set, gate=gate_set, traffic=traffic,
                        types=["LOC", "MISC", "ORG", "PER"], flip=("LOC", "ORG"), seed=seed)


def restaurant8k_source(
    folder: str | Path, *, base: int, validation: int = 200, gate: int = 300, seed: int = 0,
) -> EntitySource:
    """Restaurant-8k: ``base`` seeded training requests; validation, gate and traffic from the rest of
    ``train_0.json`` (the test file is not used); clustered flips people -> time."""
    from pioneer.data import load_span_json

    train = load_span_json(Path(folder) / "train_0.json", id_prefix="r8k:train")
    base_set, val_set, gate_set, traffic = _split(train, seed, (base, validation, gate))
    return EntitySource(base=base_set, validation=val_set, gate=gate_set, traffic=traffic,
                        types=["date", "first_name", "last_name", "people", "time"], flip=("people", "time"),
                        seed=seed)
