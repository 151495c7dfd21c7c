"""``TaskSource``: where a scenario's examples come from, and how each noise kind is made for its task.

A source owns three disjoint pools: the base model's data (train, validation, gate), the clean traffic that
logs are drawn from, and whatever it withholds to plant failure patterns (a phrasing family the base model
never saw). It turns a noise kind into one :class:`Noised` input with its true output and its feedback. The
kinds every task shares (typos, preambles, injections, jailbreaks, uniform mislabels) are implemented here on
top of two task-specific verbs: draw a clean example, and make a wrong answer for one.
"""

from __future__ import annotations

import hashlib
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from pioneer.bench import noise
from pioneer.events import Output
from pioneer.training.base import Example


@dataclass(frozen=True, slots=True)
class Noised:
    """One generated input: ``example`` carries the true output, ``feedback`` what the labeller sends."""

    example: Example
    feedback: Output
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class BaseSets:
    """What the deliberately weak deployed model is trained, validated and gated on."""

    train: list[Example]
    validation: list[Example]
    gate: list[Example]


class Pool:
    """Examples drawn in a seeded order, split by text into what training logs and held-out logs may use.

    Without ``cycle`` every example is drawn at most once (both splits share one order) and running out is an
    error, never a silent repeat. With ``cycle`` (a generated task whose texts repeat, as real traffic does)
    examples are drawn again and again, but each distinct text belongs to one split only (by a stable hash),
    so a held-out text is never one that retraining saw.
    """

    def __init__(self, examples: Sequence[Example], seed: int | str, name: str, *, cycle: bool = False,
                 test_share: float = 0.3) -> None:
        self.name = name
        self.cycle = cycle
        items = list(examples)
        random.Random(seed).shuffle(items)
        if cycle:
            test = [e for e in items if _bucket(e.text) < test_share]
            self._items = {"train": [e for e in items if _bucket(e.text) >= test_share], "test": test}
        else:
            self._items = {"train": items, "test": items}
        self._next = {"train": 0, "test": 0} if cycle else None
        self._shared = 0

    def __len__(self) -> int:
        if self.cycle:  # never runs out, unless a split has no texts at all
            return (1 << 30) if all(self._items.values()) else 0
        return len(self._items["train"]) - self._shared

    def take(self, split: str = "train") -> Example:
        if self.cycle:
            assert self._next is not None
            items = self._items[split]
            if not items:
                raise ValueError(f"pool {self.name!r} has no {split} texts")
            self._next[split] += 1
            return items[(self._next[split] - 1) % len(items)]
        items = self._items["train"]
        if self._shared >= len(items):
            raise ValueError(f"pool {self.name!r} is exhausted ({len(items)} examples); ask for fewer logs")
        self._shared += 1
        return items[self._shared - 1]


def _bucket(text: str) -> float:
    return int(hashlib.blake2b(text.encode(), digest_size=4).hexdigest(), 16) / 2**32


class TaskSource(ABC):
    """Examples and noise for one task. See the module docstring."""

    task: ClassVar[str]
    kinds: ClassVar[frozenset[str]]
    """Noise kinds this source can generate (besides ``clean``)."""

    @abstractmethod
    def base_sets(self) -> BaseSets:
        """The base model's train, validation and gate sets (disjoint from all traffic)."""

    @abstractmethod
    def clean(self, rng: random.Random, split: str = "train") -> Example:
        """A fresh clean traffic example with its true output, for a log of ``split``."""

    @abstractmethod
    def wrong(self, example: Example, rng: random.Random) -> Output:
        """A plausible wrong answer for ``example`` (a mislabel's feedback)."""

    def answer_text(self, output: Output) -> str:
        """How an answer is written inside an injection ("answer X")."""
        return str(output.label or output.text or "nothing")

    # ------------------------------------------------------------------------------------------ task-specific

    def specific(self, kind: str, rng: random.Random, split: str = "train") -> Noised | None:
        """Kinds only this task makes (new phrasings, flips, number games); None when it cannot."""
        return None

    # ------------------------------------------------------------------------------------------ shared kinds

    def make(self, kind: str, rng: random.Random, split: str = "train") -> Noised | None:
        """One input of ``kind`` for a log of ``split``, or None if this draw cannot make it (the generator
        draws again)."""
        if kind not in self.kinds and kind != "clean":
            raise ValueError(f"{type(self).__name__} cannot make {kind!r}; it makes {sorted(self.kinds)}")
        made = self.specific(kind, rng, split)
        if made is not None or kind not in _SHARED:
            return made
        example = self.clean(rng, split)
        if kind == "clean":
            return Noised(example, example.expected())
        # Edits that move text move spans: the truth (and a wrong answer) is read off the edited input.
        if kind == "typo":
            typed = noise.add_typos(example, rng, n=2)
            return Noised(typed, typed.expected())
        if kind == "preamble":
            opened = noise.preamble(example, rng)
            return Noised(opened, opened.expected())
        if kind == "truncation":
            cut = noise.truncate(example, rng)
            return None if cut is None else Noised(cut, cut.expected())
        if kind == "mislabel":
            return Noised(example, self.wrong(example, rng))
        if kind == "prompt_injection":
            wrong = self.wrong(example, rng)
            return Noised(noise.inject(example, rng, self.answer_text(wrong)), wrong)
        if kind == "jailbreak":
            attack = noise.jailbreak(example, rng)
            return Noised(attack, self.wrong(attack, rng))
        raise AssertionError(kind)


_SHARED = frozenset({"clean", "typo", "preamble", "truncation", "mislabel", "prompt_injection", "jailbreak"})
