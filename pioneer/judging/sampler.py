"""Which unlabelled logs the judge sees: stratified by model and bucket, then capped by a :class:`CallBudget`.

A stratum is ``(model name, bucket)``; the bucket is the log's cluster id when its metadata carries one
(``metadata["cluster_id"]``), else its predicted label, else ``"-"``. Each stratum is offered to the judge
with a probability inversely proportional to its share of recent traffic, so every stratum expects the same
number of judge calls and a rare cluster is judged as often as a common one: ``p = min(1, rate * N / (k * n_s))``
(``N`` recent logs, ``k`` strata, ``n_s`` of stratum ``s``; counts fade with a half-life in logs). The draw is a
hash of the request id, so a replayed log gets the same decision. A stratum whose unlabelled traffic drifted
(:class:`~pioneer.judging.drift.DriftWatch`) has its probability multiplied by the watch's boost. The budget is
spent last: whatever the sampler wants, calls never exceed it.

Once the judge has answered, calls follow its verdicts (Neyman allocation, the variance-optimal split of a
stratified sample): a stratum's share of calls is proportional to the spread of its verdicts,
``sqrt(f (1 - f))`` with ``f`` its smoothed fail rate ``(fails + 1) / (verdicts + 2)`` over its recent verdicts.
A stratum nobody judged yet counts as 50/50 (the largest share), so every stratum is explored first; one whose
answers all pass keeps a small share (sqrt(1/(n+2)) of the largest after n passes), and one that keeps failing
gets the calls: that is where the patterns are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from pioneer.events import InferenceLog
from pioneer.judging.budget import CallBudget

Stratum = tuple[str, str]


def stratum_of(log: InferenceLog) -> Stratum:
    """``(model, bucket)`` of a log.

    >>> from pioneer.events import Input, ModelRef, Output
    >>> log = InferenceLog(event_id="e", timestamp=0, request_id="r", model=ModelRef(name="m", version="v"),
    ...     task="classification", input=Input(text="hi"), prediction=Output(label="greet"), latency_ms=1)
    >>> stratum_of(log)
    ('m', 'greet')
    """
    cluster = (log.metadata or {}).get("cluster_id")
    bucket = str(cluster) if cluster is not None else (log.prediction.label or "-")
    return log.model.name, bucket[:200]


VERDICT_HALF_LIFE = 200.0
"""Verdicts of a stratum after which an old verdict weighs half: a fail rate follows the traffic (a round choice)."""


def neyman_weight(fails: float, verdicts: float) -> float:
    """A stratum's share of judge calls relative to an unexplored one: ``2 sqrt(f (1 - f))``, ``f`` smoothed.

    >>> neyman_weight(0, 0), round(neyman_weight(0, 98), 2), round(neyman_weight(40, 100), 2)
    (1.0, 0.2, 0.98)
    """
    f = (fails + 1.0) / (verdicts + 2.0)
    return 2.0 * (f * (1.0 - f)) ** 0.5


def unit_draw(request_id: str, seed: int) -> float:
    """A uniform number in [0, 1) fixed by the request id and seed."""
    digest = hashlib.blake2b(f"{seed}\x00{request_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class StratifiedSampler:
    """Offers logs to the judge, calls per stratum by the spread of its verdicts, within a hard call budget.

    Parameters
    ----------
    rate
        Share of all traffic the sampler would like judged (before the budget), in (0, 1].
    half_life
        Logs after which a past log's weight in the traffic counts has halved.
    max_strata
        Strata tracked at most (the lightest are forgotten beyond it).
    seed
        Seeds the per-request draw.
    budget
        The call cap (calls per second and per day).
    key
        The stratum of a log (:func:`stratum_of` by default).
    boost
        A stratum's sampling-rate factor now (e.g. :meth:`DriftWatch.boost <pioneer.judging.drift.DriftWatch.boost>`;
        None: 1 everywhere).

    >>> from pioneer.events import Input, ModelRef, Output
    >>> def log(i, label):
    ...     return InferenceLog(event_id=f"e{i}", timestamp=0, request_id=f"r{i}", model=ModelRef(name="m", version="v"),
    ...         task="classification", input=Input(text="hi"), prediction=Output(label=label), latency_ms=1)
    >>> sampler = StratifiedSampler(rate=0.1, budget=CallBudget(per_second=1e9, per_day=10**9, clock=lambda: 0.0))
    >>> picked = [sampler.offer(log(i, "rare" if i % 10 == 0 else "common")) for i in range(5000)]
    >>> rare = sum(p for i, p in enumerate(picked) if i % 10 == 0)
    >>> common = sum(picked) - rare
    >>> 0.6 < rare / common < 1.6   # about equal calls, though "common" has 9 times the traffic
    True
    >>> for _ in range(100):           # the judge passes every "common" answer and fails half the "rare" ones
    ...     sampler.record(("m", "common"), failed=False)
    ...     sampler.record(("m", "rare"), failed=_ % 2 == 0)
    >>> # per log of each: 9 times the traffic's ratio, then ~5 times more calls where half the answers fail
    >>> round(sampler.probability(("m", "rare")) / sampler.probability(("m", "common")) / 9, 1)
    4.7
    """

    def __init__(
        self,
        *,
        rate: float = 0.05,
        half_life: float = 10_000.0,
        max_strata: int = 10_000,
        seed: int = 0,
        budget: CallBudget | None = None,
        key: Callable[[InferenceLog], Stratum] = stratum_of,
        boost: Callable[[Stratum], float] | None = None,
    ) -> None:
        if not 0 < rate <= 1:
            raise ValueError(f"rate must be in (0, 1], got {rate}")
        if half_life <= 0:
            raise ValueError(f"half_life must be > 0 logs, got {half_life}")
        if max_strata < 1:
            raise ValueError(f"max_strata must be >= 1, got {max_strata}")
        self.rate = rate
        self.half_life = half_life
        self.max_strata = max_strata
        self.seed = seed
        self.budget = budget or CallBudget()
        self.key = key
        self.boost = boost
        self._decay = 0.5 ** (1.0 / half_life)
        # Counts are stored undecayed against a growing scale, so one log costs O(1), not O(strata).
        self._scale = 1.0
        self._counts: dict[Stratum, float] = {}
        self._total = 0.0
        self._verdicts: dict[Stratum, tuple[float, float]] = {}  # decayed (fails, verdicts)
        self._weights: dict[Stratum, float] = {}
        self._weight_sum = 0.0
        self.offered = 0
        self.refused_by_budget = 0

    def probability(self, stratum: Stratum) -> float:
        """The chance a log of ``stratum`` is wanted now (before the budget)."""
        n_s = self._counts.get(stratum, 0.0)
        if n_s <= 0 or not self._counts:
            return 1.0
        factor = self.boost(stratum) if self.boost is not None else 1.0
        share = self._weights.get(stratum, 1.0) / self._weight_sum
        return min(1.0, factor * self.rate * self._total * share / n_s)

    def record(self, stratum: Stratum, *, failed: bool) -> None:
        """Count the judge's verdict on a log of ``stratum``: later calls follow where answers fail."""
        fails, verdicts = self._verdicts.get(stratum, (0.0, 0.0))
        keep = 0.5 ** (1.0 / VERDICT_HALF_LIFE)
        fails, verdicts = fails * keep + failed, verdicts * keep + 1.0
        self._verdicts[stratum] = (fails, verdicts)
        if stratum in self._weights:
            weight = neyman_weight(fails, verdicts)
            self._weight_sum += weight - self._weights[stratum]
            self._weights[stratum] = weight

    def offer(self, log: InferenceLog) -> bool:
        """Count ``log`` in its stratum's traffic; True when the judge should see it (a budgeted call is spent)."""
        stratum = self.key(log)
        self._observe(stratum)
        self.offered += 1
        if unit_draw(log.request_id, self.seed) >= self.probability(stratum):
            return False
        if not self.budget.take():
            self.refused_by_budget += 1
            return False
        return True

    def _observe(self, stratum: Stratum) -> None:
        self._scale /= self._decay
        if self._scale > 1e100:  # renormalise before the floats overflow
            self._counts = {s: c / self._scale for s, c in self._counts.items()}
            self._total /= self._scale
            self._scale = 1.0
        if stratum not in self._counts:
            weight = neyman_weight(*self._verdicts.get(stratum, (0.0, 0.0)))
            self._weights[stratum] = weight
            self._weight_sum += weight
        self._counts[stratum] = self._counts.get(stratum, 0.0) + self._scale
        self._total += self._scale
        if len(self._counts) > self.max_strata:
            lightest = min(self._counts, key=self._counts.__getitem__)
            self._total -= self._counts.pop(lightest)
            self._weight_sum -= self._weights.pop(lightest)
            self._verdicts.pop(lightest, None)
