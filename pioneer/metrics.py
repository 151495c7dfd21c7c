"""The one implementation of every score Pioneer reports: accuracy, span-level entity P/R/F1, exact match.

Adapters, gates, diagnosis and benchmarks all import from here, so a number printed anywhere means the same
thing everywhere. Span scoring follows the seqeval / CoNLL convention: a predicted entity counts only when its
``(start, end, label)`` matches a gold entity exactly, and precision, recall and F1 are micro-averaged over all
entities of all examples.

>>> accuracy(["a", "b", "c"], ["a", "b", "x"])
0.6666666666666666
>>> s = span_scores([[(0, 4, "PER")]], [[(0, 4, "PER"), (9, 15, "LOC")]])
>>> (s.precision, s.recall, round(s.f1, 3))
(1.0, 0.5, 0.667)
>>> normalize_answer("  The answer is: 42. ")
'answer is 42'
>>> check_answer("numeric", "So the total is 1,204.", "1204")
True
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from pioneer.events import Span

SpanKey = tuple[int, int, str]
"""``(start, end, label)``: the identity of an entity for exact-match scoring."""


def accuracy(predicted: Sequence[object], expected: Sequence[object]) -> float:
    """Share of positions where ``predicted`` equals ``expected``; 0.0 for empty input."""
    if len(predicted) != len(expected):
        raise ValueError(f"predicted has {len(predicted)} items but expected has {len(expected)}; pass equal lengths.")
    if not expected:
        return 0.0
    return sum(p == e for p, e in zip(predicted, expected, strict=True)) / len(expected)


def per_label_accuracy(predicted: Sequence[str | None], expected: Sequence[str | None]) -> dict[str, float]:
    """Accuracy (recall) per expected label: which intents the model gets wrong most."""
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for p, e in zip(predicted, expected, strict=True):
        key = str(e)
        totals[key] += 1
        hits[key] += p == e
    return {label: hits[label] / totals[label] for label in sorted(totals)}


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@dataclass(frozen=True, slots=True)
class SpanScores:
    """Micro-averaged span scores, plus the counts behind them and F1 per entity type."""

    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    per_label: Mapping[str, float] = field(default_factory=dict)
    """F1 per entity type (over every type seen in gold or predictions)."""


def span_key(span: Span | SpanKey) -> SpanKey:
    """``(start, end, label)`` of a :class:`~pioneer.events.Span` or of a tuple already in that shape."""
    return span.key() if isinstance(span, Span) else (int(span[0]), int(span[1]), str(span[2]))


def span_scores(
    predicted: Iterable[Iterable[Span | SpanKey]], expected: Iterable[Iterable[Span | SpanKey]]
) -> SpanScores:
    """Exact-match span P/R/F1 over a corpus: one span collection per example, in the same order."""
    counts: dict[str, list[int]] = {}  # label -> [tp, fp, fn]
    for pred_spans, gold_spans in zip(predicted, expected, strict=True):
        pred = {span_key(s) for s in pred_spans}
        gold = {span_key(s) for s in gold_spans}
        for key in pred | gold:
            c = counts.setdefault(key[2], [0, 0, 0])
            if key in pred and key in gold:
                c[0] += 1
            elif key in pred:
                c[1] += 1
            else:
                c[2] += 1
    tp = sum(c[0] for c in counts.values())
    fp = sum(c[1] for c in counts.values())
    fn = sum(c[2] for c in counts.values())
    precision, recall, f1 = _prf(tp, fp, fn)
    per_label = {label: _prf(*counts[label])[2] for label in sorted(counts)}
    return SpanScores(precision, recall, f1, tp, fp, fn, MappingProxyType(per_label))


def spans_match(predicted: Iterable[Span | SpanKey], expected: Iterable[Span | SpanKey]) -> bool:
    """Whether one example's predicted span set equals its gold span set (the per-example correctness)."""
    return {span_key(s) for s in predicted} == {span_key(s) for s in expected}


# ---------------------------------------------------------------------------------------------------- exact match

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def normalize_answer(text: str | None) -> str:
    """SQuAD-style normalisation: NFKC, lower case, drop punctuation and articles, squeeze whitespace."""
    if text is None:
        return ""
    text = unicodedata.normalize("NFKC", text).lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def last_number(text: str | None) -> float | None:
    """The last number written in ``text`` (commas as thousands separators), or None."""
    if not text:
        return None
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def _exact(predicted: str | None, expected: str | None) -> bool:
    return (predicted or "").strip() == (expected or "").strip()


def _normalized(predicted: str | None, expected: str | None) -> bool:
    return normalize_answer(predicted) == normalize_answer(expected)


def _numeric(predicted: str | None, expected: str | None) -> bool:
    want = last_number(expected)
    got = last_number(predicted)
    if want is None:
        return _normalized(predicted, expected)
    return got is not None and abs(got - want) <= 1e-9 * max(1.0, abs(want))


AnswerChecker = Callable[[str | None, str | None], bool]
"""``checker(predicted, expected) -> bool``: whether a generated answer counts as correct."""

ANSWER_CHECKERS: Mapping[str, AnswerChecker] = MappingProxyType(
    {"exact": _exact, "normalized": _normalized, "numeric": _numeric}
)
"""Named checkers a config can refer to: ``exact`` (after strip), ``normalized`` (:func:`normalize_answer`),
``numeric`` (the last number of each side, falling back to ``normalized`` when the reference has none)."""


def check_answer(checker: str | AnswerChecker, predicted: str | None, expected: str | None) -> bool:
    """Apply a named or custom answer checker."""
    fn = ANSWER_CHECKERS[checker] if isinstance(checker, str) else checker
    return bool(fn(predicted, expected))


def exact_match(
    predicted: Sequence[str | None], expected: Sequence[str | None], checker: str | AnswerChecker = "normalized"
) -> float:
    """Share of answers the checker accepts (normalised exact match by default)."""
    if len(predicted) != len(expected):
        raise ValueError(f"predicted has {len(predicted)} items but expected has {len(expected)}; pass equal lengths.")
    if not expected:
        return 0.0
    return sum(check_answer(checker, p, e) for p, e in zip(predicted, expected, strict=True)) / len(expected)


__all__ = [
    "ANSWER_CHECKERS",
    "AnswerChecker",
    "SpanKey",
    "SpanScores",
    "accuracy",
    "check_answer",
    "exact_match",
    "last_number",
    "normalize_answer",
    "per_label_accuracy",
    "span_key",
    "span_scores",
    "spans_match",
]
