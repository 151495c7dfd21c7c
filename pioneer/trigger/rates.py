"""Failure rates when passing traffic is only sampled, and a conservative lower bound on them.

Every failure is observed but only a fraction ``s`` of passes, so the observed failure share ``q = F / (F + P_s)``
overstates the true rate ``r = F / (F + P_s / s)``. The two are linked by ``r = q s / (q s + 1 - q)``, a monotone
map, so a Wilson score lower bound on ``q`` (computed on the counts actually seen) maps to a lower bound on ``r``.
That keeps the uncertainty of the pass sample in the bound, which weighting passes by ``1/s`` first would hide.

>>> round(estimate_failure_rate(30, 3, 0.1), 3)          # 30 failures, 3 sampled passes ~ 30 passes
0.5
>>> round(failure_rate_lower_bound(30, 3, 0.1), 3)
0.277
>>> failure_rate_lower_bound(0, 0, 0.1)
0.0
"""

from __future__ import annotations

import math
from statistics import NormalDist


def z_score(confidence: float) -> float:
    """One-sided normal quantile for ``confidence`` (0.95 -> 1.645)."""
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0.5, 1); got {confidence!r}")
    return NormalDist().inv_cdf(confidence)


def estimate_failure_rate(failures: float, sampled_passes: float, sample_rate: float) -> float:
    """Point estimate of the failure rate, passes weighted by ``1 / sample_rate``."""
    total = failures + sampled_passes / sample_rate
    return failures / total if total > 0 else 0.0


def wilson_lower(successes: float, n: float, z: float) -> float:
    """Wilson score lower bound of a proportion (``successes`` of ``n``; counts may be fractional)."""
    if n <= 0:
        return 0.0
    p = min(max(successes / n, 0.0), 1.0)
    z2 = z * z
    centre = p + z2 / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z2 / n))


def wilson_upper(successes: float, n: float, z: float) -> float:
    """Wilson score upper bound of a proportion (1.0 when ``n`` is 0).

    >>> round(wilson_upper(0, 2, 1.645), 3), round(wilson_upper(1, 8, 1.645), 3)
    (0.575, 0.411)
    """
    if n <= 0:
        return 1.0
    return 1.0 - wilson_lower(n - successes, n, z)


def failure_rate_lower_bound(failures: float, sampled_passes: float, sample_rate: float, z: float = 1.645) -> float:
    """Lower confidence bound of the failure rate (one-sided, ``z`` = 1.645 for 95%)."""
    q = wilson_lower(failures, failures + sampled_passes, z)
    denom = q * sample_rate + 1.0 - q
    return min(1.0, q * sample_rate / denom) if denom > 0 else 1.0


def sign_test_p(wins: int, losses: int) -> float:
    """One-sided exact sign test (McNemar's exact test on paired right/wrong outcomes): the chance of at least
    ``wins`` of the ``wins + losses`` changed examples going one way if changes fell either way with even odds.

    >>> round(sign_test_p(5, 0), 4), round(sign_test_p(8, 2), 4), sign_test_p(0, 0)
    (0.0312, 0.0547, 1.0)
    """
    if wins < 0 or losses < 0:
        raise ValueError(f"counts must be >= 0, got wins={wins!r}, losses={losses!r}")
    n = wins + losses
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n
