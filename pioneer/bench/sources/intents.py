"""Intent classification sources: CLINC150 (public data) and the generated banking task (no data at all).

Both plant the same two kinds of structure in their traffic:

- **new phrasings** (fixable): for a few intents, one family of phrasings is withheld from everything the base
  model sees and appears only in traffic, labelled right: a real weak spot that training fixes;
- **clustered flips** (poison): for a few source intents, every flipped log of that intent carries the same
  wrong target intent, as a labeller who systematically confuses two intents would produce. Unlike uniform
  mislabels these agree with each other, so a vote among the suspicious traces alone cannot expose them.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from pioneer.bench import noise
from pioneer.bench.sources.base import BaseSets, Noised, Pool, TaskSource
from pioneer.events import Output
from pioneer.training.base import Example

DISTRACTORS = ("(ref {n})", "- order number {n}", "for account ending {n}", "my customer id is {n}", "at {h} pm")
DRIFT = (
    ("can you", "would you be able to"),
    ("what is", "what would be"),
    ("i want to", "i'm hoping to"),
    ("i need", "i kinda need"),
    ("how do i", "what's the way to"),
    ("tell me", "let me know"),
    ("please", "if you don't mind"),
    ("my ", "this "),
)


class IntentSource(TaskSource):
    """Classification traffic over given pools. See the module docstring.

    Parameters
    ----------
    base, validation, gate
        The base model's data.
    traffic
        Clean traffic (disjoint from the above).
    families
        Intent -> withheld examples asked a new way (traffic only).
    flips
        Source intent -> the wrong intent its clustered flips carry.
    seed
        Seed of the traffic order.
    repeat
        Traffic texts may repeat (a generated task with few distinct texts); each text then belongs to one
        split only, so the held-out set never holds a text retraining saw.
    """

    task: ClassVar[str] = "classification"
    kinds: ClassVar[frozenset[str]] = frozenset(
        {"typo", "truncation", "preamble", "number_distractor", "paraphrase_drift", "new_phrasing",
         "mislabel", "clustered_flip", "prompt_injection", "jailbreak"}
    )

    def __init__(
        self,
        *,
        base: Sequence[Example],
        validation: Sequence[Example],
        gate: Sequence[Example],
        traffic: Sequence[Example],
        families: Mapping[str, Sequence[Example]],
        flips: Mapping[str, str],
        seed: int = 0,
        repeat: bool = False,
    ) -> None:
        self._sets = BaseSets(list(base), list(validation), list(gate))
        self.labels = sorted({e.label for e in [*base, *traffic] if e.label is not None})
        self.families = {label: Pool(items, f"{seed}-family-{label}", f"new phrasing {label}", cycle=repeat)
                         for label, items in families.items()}
        self.flips = dict(flips)
        self._traffic = Pool([e for e in traffic if e.label not in self.flips], f"{seed}-traffic", "traffic",
                             cycle=repeat)
        self._flip_pools = {
            src: Pool([e for e in traffic if e.label == src], f"{seed}-flip-{src}", f"traffic of {src}",
                      cycle=repeat)
            for src in self.flips
        }

    def base_sets(self) -> BaseSets:
        return self._sets

    def clean(self, rng: random.Random, split: str = "train") -> Example:
        # Flip-source intents still appear clean in traffic, in proportion (one draw in len(labels)).
        if self.flips and rng.random() < len(self.flips) / max(1, len(self.labels)):
            pool = self._flip_pools[rng.choice(sorted(self._flip_pools))]
            if len(pool) > 0:
                return pool.take(split)
        return self._traffic.take(split)

    def wrong(self, example: Example, rng: random.Random) -> Output:
        return Output(label=rng.choice([label for label in self.labels if label != example.label]))

    def specific(self, kind: str, rng: random.Random, split: str = "train") -> Noised | None:
        if kind == "new_phrasing":
            open_ = [label for label, pool in self.families.items() if len(pool) > 0]
            if not open_:
                return None
            label = rng.choice(sorted(open_))
            example = self.families[label].take(split)
            return Noised(example, example.expected(), pattern=f"new_phrasing:{label}")
        if kind == "clustered_flip":
            open_ = [src for src, pool in self._flip_pools.items() if len(pool) > 0]
            if not open_:
                return None
            src = rng.choice(sorted(open_))
            example = self._flip_pools[src].take(split)
            return Noised(example, Output(label=self.flips[src]), pattern=f"flip:{src}->{self.flips[src]}")
        if kind == "number_distractor":
            example = self._traffic.take(split)
            phrase = rng.choice(DISTRACTORS).format(n=rng.randint(1000, 99999), h=rng.randint(1, 12))
            return Noised(noise.append(example, phrase), example.expected())
        if kind == "paraphrase_drift":
            example = self._traffic.take(split)
            text = example.text
            for old, new in DRIFT:
                if old in text:
                    text = text.replace(old, new, 1)
            if text == example.text:
                text = "so basically " + text
            drifted = noise.replace_text(example, 0, len(example.text), text)
            return Noised(drifted, example.expected())
        return None


def _families(
    examples: Sequence[Example], labels: Sequence[str], *, seed: int, embedder=None, k: int = 3
) -> dict[str, list[Example]]:
    """For each of ``labels``: the largest of ``k`` k-means families of its examples (sentence embeddings)."""
    from sklearn.cluster import KMeans

    if embedder is None:
        from pioneer.embedding import Embedder

        embedder = Embedder()
    by_label: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        if e.label in labels:
            by_label[e.label].append(e)  # type: ignore[index]
    out: dict[str, list[Example]] = {}
    for label in labels:
        members = by_label[label]
        vectors = np.asarray(embedder.encode([e.text for e in members]))
        assignment = KMeans(n_clusters=k, n_init=5, random_state=seed).fit_predict(vectors)
        largest = int(np.bincount(assignment).argmax())
        out[label] = [e for e, a in zip(members, assignment, strict=True) if a == largest]
    return out


def clinc150_source(
    path: str | Path,
    *,
    per_label: int,
    validation_per_label: int = 2,
    gate_per_label: int = 1,
    new_phrasing_intents: int = 8,
    flip_intents: int = 4,
    seed: int = 0,
) -> IntentSource:
    """CLINC150 with a seeded weak base (``per_label`` training examples per intent), withheld phrasing
    families for ``new_phrasing_intents`` intents and clustered flips on ``flip_intents`` others."""
    from pioneer.data import load_clinc150, subsample

    train = load_clinc150(path, "train")
    val = load_clinc150(path, "val")
    labels = sorted({e.label for e in train if e.label is not None})
    rng = random.Random(f"clinc150-{seed}")
    chosen = rng.sample(labels, new_phrasing_intents + flip_intents)
    family_labels, flip_labels = chosen[:new_phrasing_intents], chosen[new_phrasing_intents:]
    families = _families(train, family_labels, seed=seed)
    withheld = {e.id for members in families.values() for e in members}
    usual = [e for e in train if e.id not in withheld]
    base = subsample(usual, per_label=per_label, seed=seed)
    used = {e.id for e in base}
    validation = subsample(val, per_label=validation_per_label, seed=seed)
    rest = [e for e in val if e.id not in {v.id for v in validation}]
    gate = subsample(rest, per_label=gate_per_label, seed=seed)
    others = [label for label in labels if label not in chosen]
    flips = {src: rng.choice(others) for src in flip_labels}
    return IntentSource(
        base=base, validation=validation, gate=gate, traffic=[e for e in usual if e.id not in used],
        families=families, flips=flips, seed=seed,
    )


def banking_source(*, per_intent: int, flip_intents: int = 2, seed: int = 0) -> IntentSource:
    """The generated banking task (:class:`~pioneer.synthetic.BankingTask`): its blind spot (a new way of asking
    for a transfer) is the withheld family; traffic is fresh generated requests."""
    from pioneer.synthetic import BLIND_SPOT_INTENT, BankingTask

    task = BankingTask(seed=seed)
    base = task.training_set(per_intent=per_intent)
    evaluation = task.evaluation_set(per_intent=10)
    half = len(evaluation) // 2
    # Generated texts repeat (templates x slots, under a thousand distinct usual requests): traffic repeats them
    # as real traffic would, minus the texts the base model was trained or gated on.
    seen = {e.text for e in [*base, *evaluation]}
    unique = list({e.text: e for e in task.usual(20000, stream="bench-traffic") if e.text not in seen}.values())
    blind = list({e.text: e for e in task.blind_spot(5000, stream="bench-blind") if e.text not in seen}.values())
    rng = random.Random(f"banking-{seed}")
    others = [label for label in task.labels if label != BLIND_SPOT_INTENT]
    flip_src = rng.sample(others, flip_intents)
    flips = {src: rng.choice([label for label in others if label not in flip_src]) for src in flip_src}
    return IntentSource(
        base=base, validation=evaluation[:half], gate=evaluation[half:], traffic=unique,
        families={BLIND_SPOT_INTENT: blind}, flips=flips, seed=seed, repeat=True,
    )
