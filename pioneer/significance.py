"""Whether one candidate beats another on the validation half by more than the half's own sampling error.

A search that keeps whichever candidate scores highest on a small validation set chooses by noise: 21
validation sentences score entity F1 with a standard error of several points, so a recipe "wins" by the luck
of which sentences were drawn (CoNLL-2003: a learning rate that led by 11 points on validation lost on test).
Each candidate's validation score is kept per example (entities: true/false positives and false negatives per
sentence; other kinds: right or wrong), and the gain of one over another is resampled over the same examples
(a paired bootstrap): a move is accepted only when its gain exceeds one standard error of that gain.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pioneer.metrics import span_scores
from pioneer.training.base import Evaluation, Example

RESAMPLES = 1000
"""Bootstrap resamples of the validation examples (the standard error's own error is about 2% at 1,000)."""


def item_evidence(kind: str, evaluation: Evaluation, examples: Sequence[Example]) -> np.ndarray:
    """Per-example counts the validation metric is a function of: rows of (tp, fp, fn) for entity extraction,
    (right, 1) otherwise; :func:`metric_of` turns any subset of rows back into the metric."""
    if kind != "entity_extraction":
        return np.array([[float(c), 1.0] for c in evaluation.correct]).reshape(-1, 2)
    rows = []
    for example, output in zip(examples, evaluation.predictions, strict=True):
        s = span_scores([output.spans or []], [example.spans or []])
        rows.append([s.tp, s.fp, s.fn])
    return np.array(rows, dtype=float).reshape(-1, 3)


def metric_of(rows: np.ndarray) -> np.ndarray:
    """The metric of summed rows (the last axis is the count): F1 for (tp, fp, fn), the share right for
    (right, n). Works on a stack of resamples at once."""
    if rows.shape[-1] == 3:
        tp, fp, fn = rows[..., 0], rows[..., 1], rows[..., 2]
        denominator = 2 * tp + fp + fn
        return np.divide(2 * tp, denominator, out=np.zeros_like(tp, dtype=float), where=denominator > 0)
    return np.divide(rows[..., 0], rows[..., 1], out=np.zeros_like(rows[..., 0], dtype=float), where=rows[..., 1] > 0)


def paired_gain(new: np.ndarray, old: np.ndarray, *, resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """(gain, standard error): ``new``'s metric minus ``old``'s over the same examples, and the standard
    deviation of that difference over bootstrap resamples of the examples (both models see each resample)."""
    if new.shape != old.shape:
        raise ValueError(f"evidence of different shapes {new.shape} and {old.shape}: not the same examples")
    gain = float(metric_of(new.sum(axis=0)) - metric_of(old.sum(axis=0)))
    if len(new) < 2:
        return gain, 0.0
    picks = np.random.default_rng(seed).integers(0, len(new), size=(resamples, len(new)))
    gains = metric_of(new[picks].sum(axis=1)) - metric_of(old[picks].sum(axis=1))
    return gain, float(gains.std(ddof=1))


def clearly_better(
    new: np.ndarray | None, old: np.ndarray | None, new_score: float, old_score: float, *, errors: float = 1.0
) -> int:
    """+1 when ``new`` beats ``old`` by more than ``errors`` standard errors of the paired gain, -1 when it loses
    by more, 0 when the validation half cannot tell them apart. Without per-example evidence the scores decide
    alone (any difference counts)."""
    if new is None or old is None or new.shape != old.shape or len(new) == 0:
        gain, error = new_score - old_score, 0.0
    else:
        gain, error = paired_gain(new, old)
        error *= errors
    if gain > error and gain > 0:
        return 1
    if gain < -error and gain < 0:
        return -1
    return 0
