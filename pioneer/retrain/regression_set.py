"""``RegressionSetBuilder``: the regression set R every candidate is gated on, and that nothing is trained on.

R is what production's traffic says works, kept out of training for good:

- the **reserved share** of trusted passing traces (a fixed share chosen by a stable hash of the request id,
  :mod:`pioneer.traces.holdout`; the same trace is in or out whatever process decides),
- **earlier sets**: production's own R and the gate sets of it and its ancestors (never trained on either).

R is split in two by a stable hash of each example id: the **search half** steers choices (the weight search
toward production, :mod:`pioneer.training.interpolation`, and, once it can certify the rate, which candidates
may be certified at all: only those that keep the contract on it), the **certifying half** only judges the
candidates the search half chose. A bound read on examples that also chose the candidate is optimistic (the choice
favours whatever happened to flip little on them), so the promise is stated on examples that took no part in the
choice.

It grows with traffic (each retrain reads every reserved pass the store holds, plus the R stored with
production) and is bounded by sampling: above the task kind's cap, each stratum (label, or entity types, and
error pattern where known) keeps its share of the cap, its members taken in a fixed hash order, so the kept
subset changes little as R grows. Taggers and generators gate slower per example, so their caps are smaller.

>>> from pioneer.training import Example
>>> earlier = [Example(id=f"g{i}", text=f"q {i}", label="a" if i % 4 else "b") for i in range(40)]
>>> r = RegressionSetBuilder(caps=(("classification", 20),)).build("classification", [], earlier)
>>> len(r.examples), sorted(r.strata.items()), r.sampled_out
(20, [('a', 15), ('b', 5)], 20)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pioneer.curriculum.balance import labels_of
from pioneer.events import LabeledTrace
from pioneer.traces.examples import trace_to_example, unique_by_id
from pioneer.traces.holdout import RESERVED_SHARE, check_share, is_reserved
from pioneer.training.base import Example

DEFAULT_CAPS = (("classification", 10_000), ("entity_extraction", 2_000), ("generation", 300))
"""Most examples R keeps per task kind: a head gates 10,000 examples on cached embeddings in well under a second;
a tagger runs the encoder per candidate and a generator decodes every example, so theirs are smaller."""


@dataclass(slots=True, kw_only=True)
class RegressionSet:
    """R for one retrain, and what it was built from."""

    examples: list[Example]
    reserved_ids: frozenset[str]
    """Every reserved passing trace seen (sampled into R or not): none of them may be trained on."""
    share: float
    cap: int
    from_traffic: int
    """Reserved passing traces that yielded an example."""
    from_earlier: int
    """Examples of earlier sets (production's R, earlier gate sets) offered."""
    sampled_out: int
    strata: dict[str, int] = field(default_factory=dict)
    """Stratum -> examples kept."""

    def search_examples(self) -> list[Example]:
        """The half of R that steers choices among candidates."""
        return [e for e in self.examples if in_search_half(e.id)]

    def certifying_examples(self, exclude: Iterable[str] = ()) -> list[Example]:
        """The half of R that certifies a chosen candidate, less ``exclude`` (examples other checks judged on)."""
        skip = set(exclude)
        return [e for e in self.examples if not in_search_half(e.id) and e.id not in skip]

    def never_train(self) -> frozenset[str]:
        """Ids no training set may hold: R's examples and every reserved trace."""
        return self.reserved_ids | {e.id for e in self.examples}

    def summary(self) -> dict[str, Any]:
        return {
            "examples": len(self.examples),
            "from_traffic": self.from_traffic,
            "from_earlier": self.from_earlier,
            "sampled_out": self.sampled_out,
            "cap": self.cap,
            "share": self.share,
            "strata": len(self.strata),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RegressionSetBuilder:
    """Builds R. See the module docstring.

    Parameters
    ----------
    share
        Share of passing traces reserved for R (by request-id hash; never trained on).
    caps
        (task kind, most examples) pairs; a kind not named gets the smallest cap given.
    max_scan
        Most reserved passing traces read from the store per retrain (the most recent).
    """

    share: float = RESERVED_SHARE
    caps: tuple[tuple[str, int], ...] = DEFAULT_CAPS
    max_scan: int = 100_000

    def __post_init__(self) -> None:
        check_share(self.share)
        if not self.caps or any(cap < 1 for _, cap in self.caps):
            raise ValueError(f"caps must name at least one task kind, each with a cap >= 1, got {self.caps!r}")
        if self.max_scan < 1:
            raise ValueError(f"max_scan must be >= 1, got {self.max_scan!r}")

    def cap(self, task: str) -> int:
        return dict(self.caps).get(task, min(cap for _, cap in self.caps))

    def build(
        self,
        task: str,
        reserved: Sequence[LabeledTrace],
        earlier: Iterable[Example] = (),
        *,
        patterns: Mapping[str, str] | None = None,
    ) -> RegressionSet:
        """R from ``reserved`` passing traces (others are ignored) and ``earlier`` sets' examples.

        ``patterns`` maps request id -> error pattern id, for stratifying by pattern where it is known.
        """
        passing = [t for t in reserved if t.outcome == "pass" and is_reserved(t.request_id, self.share)]
        traffic = [e for e in map(trace_to_example, passing) if e is not None]
        earlier = list(earlier)
        pool = unique_by_id([*earlier, *traffic])
        cap = self.cap(task)
        strata = _strata(pool, patterns or {})
        kept = _sample(strata, cap)
        kept_ids = {e.id for e in kept}
        return RegressionSet(
            examples=[e for e in pool if e.id in kept_ids],
            reserved_ids=frozenset(t.request_id for t in passing),
            share=self.share,
            cap=cap,
            from_traffic=len(traffic),
            from_earlier=len(earlier),
            sampled_out=len(pool) - len(kept),
            strata={name: sum(e.id in kept_ids for e in members) for name, members in strata.items()},
        )


def in_search_half(example_id: str) -> bool:
    """Whether an example of R is in its search half (a stable hash: the same answer in every process)."""
    return hashlib.sha256(f"r-half:{example_id}".encode()).digest()[0] < 128


def _strata(examples: Sequence[Example], patterns: Mapping[str, str]) -> dict[str, list[Example]]:
    """Examples grouped by pattern (where known) and label set, in a fixed hash order within each group."""
    groups: dict[str, list[Example]] = {}
    for e in examples:
        key = "+".join(sorted(labels_of(e))) or "-"
        if e.id in patterns:
            key = f"{patterns[e.id]}|{key}"
        groups.setdefault(key, []).append(e)
    return {k: sorted(v, key=lambda e: hashlib.sha256(f"r-sample:{e.id}".encode()).digest()) for k, v in groups.items()}


def _sample(strata: Mapping[str, list[Example]], cap: int) -> list[Example]:
    """At most ``cap`` examples, each stratum keeping its share (largest remainders; at least one each while
    the cap allows), the first members of each stratum's hash order."""
    total = sum(len(v) for v in strata.values())
    if total <= cap:
        return [e for v in strata.values() for e in v]
    exact = {k: cap * len(v) / total for k, v in strata.items()}
    floor = 1 if len(strata) <= cap else 0
    quota = {k: max(int(x), floor) for k, x in exact.items()}
    for k in sorted(exact, key=lambda k: (quota[k] - exact[k], k)):
        if sum(quota.values()) >= cap:
            break
        quota[k] += 1
    while sum(quota.values()) > cap:  # the minimum of one per stratum overshot: trim the largest
        biggest = max(quota, key=lambda k: (quota[k], k))
        quota[biggest] -= 1
    return [e for k, v in strata.items() for e in v[: quota[k]]]

