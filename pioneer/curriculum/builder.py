"""``CurriculumBuilder``: the targeted examples a retrain adds for the patterns it must fix.

The reference system's recipe, made code:

- **gold**: each fixable failure with its corrected output (the only place corrections enter training);
- **hard negatives, 2-for-1**: for each gold example, the most similar labelled input with a *different*
  answer, preferring the class the model confused it with (a contrastive pair teaches the boundary, not
  just the target class; this is what fixes precision errors);
- **replay** (10-20%): nearby inputs the model already gets right, so the boundary moves without breaking
  what worked;
- **label balance**: no label more than ``max_label_ratio`` times another (see :mod:`.balance`);
- **no leakage**: nothing whose id or normalised text is in an evaluation set, ever.

>>> from pioneer.events import Output
>>> from pioneer.training import Example
>>> gold = [Example(id="f1", text="move money to my savings", label="transfer")]
>>> pool = [Example(id="t1", text="what is my savings balance", label="balance"),
...         Example(id="t2", text="play jazz", label="music")]
>>> curriculum = CurriculumBuilder(replay_share=0.0).build(
...     "classification", gold, pool, confusions={"f1": Output(label="balance")})
>>> [(item.role, item.example.id) for item in curriculum.items]
[('gold', 'f1'), ('hard_negative', 't1')]
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from pioneer.base import ParamsMixin, check_number
from pioneer.curriculum.balance import balance, label_ratio
from pioneer.diagnosis.vectors import Encoder, TfidfEncoder, cosine, take
from pioneer.events import Output
from pioneer.registry.records import example_to_dict
from pioneer.traces.examples import output_key, unique_by_id
from pioneer.training.base import Example

Role = Literal["gold", "hard_negative", "replay", "augmented"]


@dataclass(frozen=True, slots=True)
class CurriculumItem:
    """One example of the curriculum and why it is there."""

    role: Role
    example: Example
    pairs_with: str | None = None
    """For a hard negative: the id of the gold example it contrasts with."""


@dataclass(slots=True, kw_only=True)
class Curriculum:
    """The built curriculum and how it was built."""

    items: list[CurriculumItem]
    excluded_eval: int = 0
    """Candidates dropped because they sit in an evaluation set."""
    balance_added: int = 0
    balance_dropped: int = 0
    notes: list[str] = field(default_factory=list)

    def examples(self) -> list[Example]:
        return [item.example for item in self.items]

    def composition(self) -> dict[str, int]:
        counts = Counter(item.role for item in self.items)
        return {role: counts.get(role, 0) for role in ("gold", "hard_negative", "replay", "augmented")}

    def label_ratio(self) -> float | None:
        return label_ratio(self.examples())

    def summary(self) -> dict[str, Any]:
        return {
            "size": len(self.items),
            **self.composition(),
            "label_ratio": self.label_ratio(),
            "excluded_eval": self.excluded_eval,
            "balance_added": self.balance_added,
            "balance_dropped": self.balance_dropped,
            "notes": list(self.notes),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "items": [
                {"role": i.role, "pairs_with": i.pairs_with, "example": example_to_dict(i.example)} for i in self.items
            ],
        }


class CurriculumBuilder(ParamsMixin):
    """Build a curriculum from gold examples and pools. See the module docstring.

    Parameters
    ----------
    hard_negatives_per_gold
        Hard negatives chosen per gold example (1 = the 2-for-1 rule).
    replay_share
        Share of the final curriculum made of replay (the reference uses 10-20%).
    max_label_ratio
        Most times one label may outnumber another.
    encoder
        Text vectors for similarity (default ``TfidfEncoder()``).
    seed
        Seed of the tie-breaking shuffle (each builder owns its RNG).
    """

    def __init__(
        self,
        *,
        hard_negatives_per_gold: int = 1,
        replay_share: float = 0.15,
        max_label_ratio: float = 3.0,
        encoder: Encoder | None = None,
        seed: int = 0,
    ) -> None:
        check_number("hard_negatives_per_gold", hard_negatives_per_gold, 0, integer=True)
        check_number("replay_share", replay_share, 0.0, 1.0, open_high=True)
        check_number("max_label_ratio", max_label_ratio, 1.0)
        check_number("seed", seed, integer=True)
        self.hard_negatives_per_gold = hard_negatives_per_gold
        self.replay_share = replay_share
        self.max_label_ratio = max_label_ratio
        self.encoder = encoder
        self.seed = seed

    def build(
        self,
        task: str,
        gold: Sequence[Example],
        pool: Sequence[Example],
        *,
        confusions: Mapping[str, Output] | None = None,
        replay: Sequence[Example] | None = None,
        augmented: Sequence[Example] = (),
        exclude: Sequence[Example] = (),
    ) -> Curriculum:
        """Build the curriculum.

        Parameters
        ----------
        gold
            Fixable failures with their corrected outputs.
        pool
            Labelled examples to draw hard negatives from (trusted data, passing traces).
        confusions
            Gold id -> the production version's wrong output, so its hard negative is the confused class.
        replay
            Examples the model gets right, to draw replay from (default: ``pool``).
        augmented
            Teacher paraphrases of gold examples (kept like gold, counted apart).
        exclude
            Evaluation examples: nothing with their ids or texts enters the curriculum.
        """
        rng = random.Random(self.seed)
        excluded_ids = {e.id for e in exclude}
        excluded_texts = {_norm(e.text) for e in exclude}

        def allowed(e: Example) -> bool:
            return e.id not in excluded_ids and _norm(e.text) not in excluded_texts

        candidates = [*gold, *augmented, *pool, *(replay or [])]
        excluded_eval = len({e.id for e in candidates if not allowed(e)})
        gold = unique_by_id([e for e in gold if allowed(e)])
        augmented = unique_by_id([e for e in augmented if allowed(e)])
        gold_ids = {e.id for e in gold} | {e.id for e in augmented}
        gold_texts = {_norm(e.text) for e in gold}

        def apart(examples: Sequence[Example]) -> list[Example]:
            return unique_by_id([e for e in examples if allowed(e) and e.id not in gold_ids and _norm(e.text) not in gold_texts])

        pool = apart(pool)
        replay_pool = apart(pool if replay is None else replay)
        if not gold:
            return Curriculum(items=[], excluded_eval=excluded_eval, notes=["no gold examples: nothing to teach"])

        pool_sims, replay_sims = self._similarities(gold, pool, replay_pool)
        items: list[CurriculumItem] = [CurriculumItem("gold", e) for e in gold]
        items += [CurriculumItem("augmented", e) for e in augmented]
        used = {e.id for e in gold} | {e.id for e in augmented}
        notes: list[str] = []
        negatives, missing = self._hard_negatives(task, gold, pool, pool_sims, confusions, used)
        items += negatives
        if missing:
            notes.append(f"{missing} gold examples found no hard negative (no similar input with another answer)")
        n_replay = round(self.replay_share / (1.0 - self.replay_share) * len(items)) if self.replay_share else 0
        if n_replay and replay_pool:
            items += _replay(replay_pool, replay_sims, n_replay, used, rng)
        elif self.replay_share and not replay_pool:
            notes.append("no replay examples available")
        return self._balance(items, [*replay_pool, *pool], used, excluded_eval, notes)

    def _similarities(
        self, gold: Sequence[Example], pool: Sequence[Example], replay_pool: Sequence[Example]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cosine similarity of each gold example to each pool example, and to each replay example."""
        encoder = self.encoder or TfidfEncoder()
        texts = [e.text for e in gold] + [e.text for e in pool] + [e.text for e in replay_pool]
        vectors = encoder.encode(texts)
        n_gold, n_pool = len(gold), len(pool)
        gold_vecs = take(vectors, range(n_gold))
        pool_sims = (
            cosine(gold_vecs, take(vectors, range(n_gold, n_gold + n_pool))) if n_pool else np.zeros((n_gold, 0))
        )
        replay_sims = (
            cosine(gold_vecs, take(vectors, range(n_gold + n_pool, len(texts))))
            if replay_pool
            else np.zeros((n_gold, 0))
        )
        return pool_sims, replay_sims

    def _hard_negatives(
        self,
        task: str,
        gold: Sequence[Example],
        pool: Sequence[Example],
        pool_sims: np.ndarray,
        confusions: Mapping[str, Output] | None,
        used: set[str],
    ) -> tuple[list[CurriculumItem], int]:
        """For each gold example, the most similar pool input with a different answer, the confused class first;
        returns them and how many gold examples found none. Adds what it picks to ``used``."""
        pool_keys = [output_key(task, e.expected()) for e in pool]
        items: list[CurriculumItem] = []
        missing = 0
        for _ in range(self.hard_negatives_per_gold):
            for g, example in enumerate(gold):
                key = output_key(task, example.expected())
                confused = output_key(task, (confusions or {}).get(example.id)) if confusions else None
                best, best_score = None, -np.inf
                for j in np.argsort(-pool_sims[g], kind="stable"):
                    candidate = pool[j]
                    if candidate.id in used or pool_keys[j] == key:
                        continue
                    score = float(pool_sims[g, j]) + (1.0 if confused is not None and pool_keys[j] == confused else 0.0)
                    if score > best_score:
                        best, best_score = j, score
                    if confused is None or pool_keys[j] == confused:
                        break  # sorted by similarity: nothing later can score higher
                if best is None:
                    missing += 1
                    continue
                used.add(pool[best].id)
                items.append(CurriculumItem("hard_negative", pool[best], pairs_with=example.id))
        return items, missing

    def _balance(
        self, items: list[CurriculumItem], spare: Sequence[Example], used: set[str], excluded_eval: int,
        notes: list[str],
    ) -> Curriculum:
        """Label balance (classification and entity types); generation has no labels to balance.

        Top-ups come from ``spare``, the replay pool first, then the trusted pool: recent traffic is often one
        label heavy (the pattern's own), and without the trusted data's other labels the only way left to balance
        is dropping the gold examples the retrain exists for.
        """
        pairs = {item.example.id: item.pairs_with for item in items}
        top_ups = unique_by_id([e for e in spare if e.id not in used])
        balanced, added, dropped = balance(
            [(item.role, item.example) for item in items], top_ups, ratio=self.max_label_ratio
        )
        items = [CurriculumItem(role, e, pairs.get(e.id)) for role, e in balanced]  # type: ignore[arg-type]
        if dropped and not any(item.role == "gold" for item in items):
            notes.append("label balance dropped every gold example")
        return Curriculum(
            items=items, excluded_eval=excluded_eval, balance_added=added, balance_dropped=dropped, notes=notes
        )


def _replay(
    replay_pool: Sequence[Example], replay_sims: np.ndarray, n_replay: int, used: set[str], rng: random.Random
) -> list[CurriculumItem]:
    """The ``n_replay`` inputs nearest the gold examples that the model already gets right, so the region around
    the fix is kept (ties broken by ``rng``). Adds what it picks to ``used``."""
    nearest = replay_sims.max(axis=0) if len(replay_sims) else np.zeros(len(replay_pool))
    order = sorted(range(len(replay_pool)), key=lambda j: (-float(nearest[j]), rng.random()))
    items: list[CurriculumItem] = []
    for j in order:
        if len(items) == n_replay:
            break
        if replay_pool[j].id in used:
            continue
        used.add(replay_pool[j].id)
        items.append(CurriculumItem("replay", replay_pool[j]))
    return items


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()

