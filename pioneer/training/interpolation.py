"""Weight interpolation between two models of one architecture (:func:`interpolate`, what every adapter's
``blend`` computes), and ``WeightSearch``: the mixing weight between production and a candidate, searched
against the regression set.

Backward-compatible weight interpolation (BCWI; Schumann et al., "Backward Compatibility During Data Updates by
Weight Interpolation", EACL 2024): a model updated on new data, its weights interpolated back toward the old
model's, keeps most of the gain and breaks much less of what the old model got right. A fixed grid of weights
(the retrainer's ``blend_weights``) either stops short of the gain R allows or steps past it; this search finds,
by bisection, the largest weight whose blend the caller's ``accept`` (the flip contract on R) still passes.

Every weight returned was checked by ``accept``: if flips do not fall monotonically as the weight shrinks the
search may miss a larger passing weight, never return a failing one. The weight is chosen on examples, so
their count on the chosen blend is optimistic: the retrainer searches on R's search half and certifies on the
other half (:mod:`pioneer.retrain.regression_set`).

>>> flips = lambda w: round(10 * w)                     # a toy: flips on R grow with the weight
>>> WeightSearch(steps=6).search(lambda w: w, lambda w: flips(w) <= 2)
(0.25, 0.25)
>>> WeightSearch(steps=6).search(lambda w: w, lambda w: True) is None   # the candidate passes as it is
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def interpolate(mine: Mapping[str, Any], theirs: Mapping[str, Any], weight: float) -> dict[str, Any]:
    """``weight`` × ``mine`` + (1 − ``weight``) × ``theirs``, tensor by tensor, for two torch state dicts of one
    architecture (``ValueError`` otherwise); tensors that are not floating point (counters, ids) stay ``mine``.

    >>> import torch
    >>> interpolate({"w": torch.tensor([1.0, 3.0])}, {"w": torch.tensor([3.0, 5.0])}, 0.25)["w"].tolist()
    [2.5, 4.5]
    """
    if mine.keys() != theirs.keys() or any(mine[k].shape != theirs[k].shape for k in mine):
        raise ValueError("blend needs two models of the same architecture (their weights differ in names or shapes)")
    return {k: weight * v + (1.0 - weight) * theirs[k].to(v.device) if v.is_floating_point() else v for k, v in mine.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class WeightSearch:
    """Bisection for the largest passing weight in (0, 1). See the module docstring.

    Parameters
    ----------
    steps
        Halvings of the interval: the weight is found to within 2**-steps (each step costs one blend and one
        evaluation of R).
    """

    steps: int = 6

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps!r}")

    def search(self, blend_at: Callable[[float], T], accept: Callable[[T], bool]) -> tuple[float, T] | None:
        """``(weight, blend)`` for the largest weight found whose blend ``accept`` passes; None when the candidate
        (weight 1) passes as it is (no blend needed) or no weight tried passes.

        ``blend_at(w)`` builds the blend at weight ``w`` (1 = the candidate, 0 = production).
        """
        if accept(blend_at(1.0)):
            return None
        lo, hi = 0.0, 1.0
        best: tuple[float, T] | None = None
        for _ in range(self.steps):
            mid = (lo + hi) / 2
            blended = blend_at(mid)
            if accept(blended):
                lo, best = mid, (mid, blended)
            else:
                hi = mid
        return best
