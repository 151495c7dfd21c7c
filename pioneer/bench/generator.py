"""``LogGenerator``: AdaptFT-Bench's synthetic inference logs, stage by stage, with their ground truth.

Each stage has ``logs_per_stage`` logs: ``poison_rate`` of them poison, ``fixable_share`` fixable noise and the
rest clean, with the kinds inside each category allotted by the scenario's mix (largest-remainder rounding, so
the counts are exact and the same on every run). Every kind is split ``1 - test_share`` / ``test_share``
into what retraining sees and what is held out; the held-out set of the benchmark is the union of every
stage's test split, fixed before anything trains and scored against true outputs.

>>> from pioneer.bench.sources import banking_source
>>> gen = LogGenerator(logs_per_stage=40, fixable_mix={"typo": 1.0}, poison_mix={"mislabel": 1.0}, seed=0)
>>> logs = gen.generate(banking_source(per_intent=5), prefix="demo")
>>> [len(s.train) + len(s.test) for s in logs.stages], [round(s.poison_rate, 2) for s in logs.stages]
([40, 40, 40], [0.15, 0.25, 0.4])
>>> sum(log.poisoned for log in logs.stages[2].logs)
16
>>> len(logs.heldout) == sum(len(s.test) for s in logs.stages)
True
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence

from pioneer.bench.logs import BenchLogs, Stage, SyntheticLog, category_of
from pioneer.bench.sources.base import Noised, TaskSource

REFERENCE_POISON_RATES = (0.15, 0.25, 0.40)


def allot(total: int, mix: Mapping[str, float]) -> dict[str, int]:
    """``total`` items shared by weight, rounded so the parts sum to ``total`` (largest remainder).

    >>> allot(10, {"a": 1.0, "b": 1.0, "c": 1.0})
    {'a': 4, 'b': 3, 'c': 3}
    """
    if total <= 0 or not mix:
        return {k: 0 for k in mix}
    weight = sum(mix.values())
    exact = {k: total * w / weight for k, w in mix.items()}
    counts = {k: int(v) for k, v in exact.items()}
    short = total - sum(counts.values())
    for k in sorted(exact, key=lambda k: (counts[k] - exact[k], k))[:short]:
        counts[k] += 1
    return counts


class LogGenerator:
    """Generates the stages of one scenario. See the module docstring.

    Parameters
    ----------
    poison_rates
        Poison share of each stage (the reference: 15%, 25%, 40%).
    logs_per_stage
        Logs per stage (the reference: about 500).
    test_share
        Share of each stage held out (the reference: 30%).
    fixable_share
        Share of each stage that is fixable noise.
    fixable_mix, poison_mix
        Relative weight of each noise kind within its category.
    seed
        Seed of every draw.
    """

    def __init__(
        self,
        *,
        poison_rates: Sequence[float] = REFERENCE_POISON_RATES,
        logs_per_stage: int = 500,
        test_share: float = 0.3,
        fixable_share: float = 0.3,
        fixable_mix: Mapping[str, float],
        poison_mix: Mapping[str, float],
        seed: int = 0,
    ) -> None:
        if not poison_rates or any(not 0.0 <= r < 1.0 for r in poison_rates):
            raise ValueError(f"poison_rates must be in [0, 1), got {poison_rates!r}")
        if logs_per_stage < 10:
            raise ValueError(f"logs_per_stage must be >= 10, got {logs_per_stage!r}")
        if not 0.0 < test_share < 1.0:
            raise ValueError(f"test_share must be in (0, 1), got {test_share!r}")
        if not 0.0 <= fixable_share < 1.0 or any(r + fixable_share > 1.0 for r in poison_rates):
            raise ValueError(f"fixable_share must be in [0, 1) and leave room for poison, got {fixable_share!r}")
        for name, mix, category in (("fixable_mix", fixable_mix, "fixable"), ("poison_mix", poison_mix, "poison")):
            wrong = [k for k in mix if category_of(k) != category]
            if wrong or any(w < 0 for w in mix.values()):
                raise ValueError(f"{name} must weigh {category} kinds with weights >= 0; got {dict(mix)!r}")
        self.poison_rates = tuple(poison_rates)
        self.logs_per_stage = logs_per_stage
        self.test_share = test_share
        self.fixable_share = fixable_share
        self.fixable_mix = dict(fixable_mix)
        self.poison_mix = dict(poison_mix)
        self.seed = seed

    def __repr__(self) -> str:
        return (
            f"LogGenerator(poison_rates={self.poison_rates}, logs_per_stage={self.logs_per_stage},"
            f" test_share={self.test_share}, fixable_share={self.fixable_share}, seed={self.seed})"
        )

    def generate(self, source: TaskSource, *, prefix: str) -> BenchLogs:
        """Every stage's logs for ``source``; request ids are ``<prefix>:s<stage>:<n>``."""
        rng = random.Random(f"{prefix}-{self.seed}")
        stages = []
        for index, rate in enumerate(self.poison_rates):
            n_poison = round(rate * self.logs_per_stage)
            n_fixable = round(self.fixable_share * self.logs_per_stage)
            plan = {
                "clean": self.logs_per_stage - n_poison - n_fixable,
                **allot(n_fixable, self.fixable_mix),
                **allot(n_poison, self.poison_mix),
            }
            made: list[tuple[str, str, Noised]] = []
            for kind, count in plan.items():
                n_test = round(count * self.test_share)
                for i in range(count):
                    split = "test" if i < n_test else "train"
                    made.append((split, *self._make(source, kind, rng, split)))
            stages.append(self._stage(index, rate, made, prefix, rng))
        return BenchLogs(tuple(stages))

    def _make(self, source: TaskSource, kind: str, rng: random.Random, split: str) -> tuple[str, Noised]:
        for _ in range(50):
            noised = source.make(kind, rng, split)
            if noised is not None:
                return kind, noised
        # The kind ran dry (a withheld family used up): another kind of the same category keeps the rates exact.
        category = category_of(kind)
        mix = self.fixable_mix if category == "fixable" else self.poison_mix if category == "poison" else {}
        for other in sorted(mix, key=lambda k: -mix[k]):
            if other != kind:
                noised = source.make(other, rng, split)
                if noised is not None:
                    return other, noised
        raise ValueError(f"{type(source).__name__} could not make a {kind!r} log (nor another {category} kind)")

    def _stage(
        self, index: int, rate: float, made: list[tuple[str, str, Noised]], prefix: str, rng: random.Random
    ) -> Stage:
        train: list[SyntheticLog] = []
        test: list[SyntheticLog] = []
        for counter, (split, kind, noised) in enumerate(made, start=1):
            log = SyntheticLog(
                example=dataclasses.replace(noised.example, id=f"{prefix}:s{index}:{counter}"),
                feedback=noised.feedback,
                kind=kind,
                stage=index,
                split=split,  # type: ignore[arg-type]
                pattern=noised.pattern,
            )
            (test if split == "test" else train).append(log)
        rng.shuffle(train)  # the order the traffic arrives in
        return Stage(index=index, poison_rate=rate, train=tuple(train), test=tuple(test))
