"""``FlipContract``: what a release promises about the regression set R, as a count and as a rate.

A count ε of negative flips (examples production gets right that the candidate gets wrong) on a few hundred
examples says little about thousands: 2 flips in 150 is a 1.3% rate, and the truth may be 5%. So the contract
also bounds the *rate*: the one-sided Wilson upper confidence bound (95% by default) of flips / n, with n the
examples of R production gets right, must stay at or below ``max_rate``. That bound is what the report states:
"with 95% confidence, at most x% of what works breaks".

On a small R the bound cannot get below ``max_rate`` even with no flip (0 of n has a 97.5% bound of about
3.8 / n, so 1% needs n >= 381 for a retrain's first certification, below). Read literally the rate check would
then reject every candidate. Instead, a small R means **no flip allowed**: the candidate must keep every
example of R, and the report says that R was too small to certify the rate and what bound 0 flips gives. R
grows with traffic, and the contract loosens to its stated form by itself once R is large enough.

A retrain may certify several candidates on the same R before one passes, and the more it tries, the likelier
one passes by luck. So the k-th certification of a retrain is judged at confidence 1 - (1 - c) / (k (k + 1)):
the chances of a lucky pass add up to at most 1 - c over all of them, and the stated confidence c holds for
whichever candidate is released. Where R's search half can certify the rate, the retrainer certifies only
candidates that already keep the contract on it, so the stricter readings are not spent on candidates that half
would refuse.

>>> contract = FlipContract(epsilon=2, max_rate=0.01, confidence=0.95)
>>> contract.min_size()
381
>>> v = contract.judge(2, 150)         # the count passes (2 <= 2) but R is small: no flip allowed
>>> v.count_ok, v.passed, v.small
(True, False, True)
>>> v = contract.judge(2, 1000)         # 2 in 1000: bound 0.73% <= 1%
>>> v.passed, round(v.bound, 4), v.allowed
(True, 0.0073, 2)
>>> v.sentence()
'with 95% confidence, at most 0.73% of what works breaks'
>>> third = contract.certifying(3)     # the third candidate certified in one retrain: read at 99.58%
>>> round(third.test_confidence(), 4), third.judge(2, 1000).passed
(0.9958, False)
"""

from __future__ import annotations

from dataclasses import dataclass

from pioneer.events import GateCheck
from pioneer.trigger.rates import wilson_upper, z_score


@dataclass(frozen=True, slots=True, kw_only=True)
class FlipVerdict:
    """The contract's judgement of one candidate on R."""

    flips: int
    n: int
    """Examples of R production gets right (the denominator of the rate)."""
    bound: float
    """Wilson upper bound of flips / n at the contract's confidence (1.0 when n is 0)."""
    confidence: float
    """The promise's confidence (over every candidate the retrain certified)."""
    test_confidence: float
    """The confidence this candidate's bound was read at (stricter after earlier certifications)."""
    certification: int
    """Which certification of its retrain this was (1 for the first)."""
    max_rate: float
    epsilon: int | None
    allowed: int
    """Most flips the contract allows on this R (the count and the rate together)."""
    small: bool
    """R too small for even 0 flips to certify ``max_rate``: no flip is allowed."""
    count_ok: bool
    passed: bool

    @property
    def rate(self) -> float:
        return self.flips / self.n if self.n else 0.0

    def sentence(self) -> str:
        return f"with {self.confidence:.0%} confidence, at most {_pct(self.bound)} of what works breaks"

    def detail(self) -> str:
        """What the report says: count, rate, bound, and how a small R was handled."""
        if self.n == 0:
            return "R holds no example production gets right: nothing to break, nothing measured."
        text = (
            f"{self.flips} of {self.n} examples of R production gets right now fail (rate {_pct(self.rate)};"
            f" {self.sentence()}). Allowed: {self.allowed} flip(s)"
        )
        if self.small:
            text += (
                f". R is too small to certify a rate of {_pct(self.max_rate)} even with no flip (0 of {self.n} bounds"
                f" it at {_pct(self.bound if self.flips == 0 else wilson_upper(0, self.n, z_score(self.test_confidence)))}),"
                " so no flip is allowed on R until it grows"
            )
        else:
            text += f" (count <= {self.epsilon}, and the {self.confidence:.0%} bound <= {_pct(self.max_rate)})"
        text += (f". Bound read at {self.test_confidence:.2%}: certification {self.certification} of this retrain,"
                 f" all of them together keep {self.confidence:.0%}")
        return text + "."

    def to_check(self, name: str = "regression_set_flips") -> GateCheck:
        return GateCheck(
            name=name, passed=self.passed, observed=float(self.flips), threshold=float(self.allowed),
            detail=self.detail(),
        )

    def metrics(self, prefix: str = "regression") -> dict[str, float]:
        """The figures a release or rejection carries."""
        return {
            f"{prefix}_negative_flips": float(self.flips),
            f"{prefix}_examples": float(self.n),
            f"{prefix}_flip_rate": self.rate,
            f"{prefix}_flip_bound": self.bound,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class FlipContract:
    """The regression set's promise. See the module docstring.

    Parameters
    ----------
    epsilon
        Most negative flips on R, as a count (None: no count limit, the rate alone decides).
    max_rate
        Largest negative-flip rate the upper confidence bound may show.
    confidence
        One-sided confidence of the bound, in (0.5, 1).
    """

    epsilon: int | None = 2
    max_rate: float = 0.01
    confidence: float = 0.95
    certification: int = 1
    """Which certification of the retrain this is (1 for the first); see the module docstring."""

    def __post_init__(self) -> None:
        if self.epsilon is not None and (not isinstance(self.epsilon, int) or self.epsilon < 0):
            raise ValueError(f"epsilon must be a count >= 0 or None, got {self.epsilon!r}")
        if not 0.0 < self.max_rate < 1.0:
            raise ValueError(f"max_rate must be in (0, 1), got {self.max_rate!r}")
        if not 0.5 < self.confidence < 1.0:
            raise ValueError(f"confidence must be in (0.5, 1), got {self.confidence!r}")
        if not isinstance(self.certification, int) or self.certification < 1:
            raise ValueError(f"certification must be a count >= 1, got {self.certification!r}")

    def certifying(self, k: int) -> FlipContract:
        """This contract for the ``k``-th candidate certified in one retrain."""
        return FlipContract(epsilon=self.epsilon, max_rate=self.max_rate, confidence=self.confidence, certification=k)

    def test_confidence(self) -> float:
        """The confidence this certification's bound is read at."""
        k = self.certification
        return 1.0 - (1.0 - self.confidence) / (k * (k + 1))

    def bound(self, flips: int, n: int) -> float:
        return wilson_upper(flips, n, z_score(self.test_confidence()))

    def rate_allows(self, n: int) -> int | None:
        """Most flips whose bound on ``n`` stays within ``max_rate``; None when not even 0 does (a small R)."""
        z = z_score(self.test_confidence())
        if n <= 0 or wilson_upper(0, n, z) > self.max_rate:
            return None
        k = 0
        while k < n and wilson_upper(k + 1, n, z) <= self.max_rate:
            k += 1
        return k

    def min_size(self) -> int:
        """Smallest R on which 0 flips certifies ``max_rate`` (below it, no flip is allowed)."""
        z2 = z_score(self.test_confidence()) ** 2
        n = max(1, int(z2 * (1 - self.max_rate) / self.max_rate) - 1)  # 0 of n bounds at z²/(n+z²)
        while self.rate_allows(n) is None:
            n += 1
        return n

    def judge(self, flips: int, n: int) -> FlipVerdict:
        """Whether ``flips`` negative flips among ``n`` examples production gets right keep the contract."""
        by_rate = self.rate_allows(n)
        small = n > 0 and by_rate is None
        allowed = 0 if by_rate is None else by_rate
        if self.epsilon is not None:
            allowed = min(allowed, self.epsilon)
        count_ok = self.epsilon is None or flips <= self.epsilon
        return FlipVerdict(
            flips=flips, n=n, bound=self.bound(flips, n), confidence=self.confidence,
            test_confidence=self.test_confidence(), certification=self.certification, max_rate=self.max_rate,
            epsilon=self.epsilon, allowed=allowed, small=small, count_ok=count_ok, passed=n == 0 or flips <= allowed,
        )


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%".replace(".00%", "%")
