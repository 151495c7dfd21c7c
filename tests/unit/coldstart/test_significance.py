"""A search move is accepted only when its validation gain beats the validation half's own sampling error."""

from __future__ import annotations

import numpy as np

from pioneer.coldstart.search import Attempt, Recipe, _best
from pioneer.events import Span
from pioneer.significance import (
    clearly_better,
    item_evidence,
    metric_of,
    paired_gain,
)
from pioneer.training.base import Evaluation, Example, Output


def _right(pattern: list[int]) -> np.ndarray:
    return np.array([[float(c), 1.0] for c in pattern])


def _attempt(n: int, rows: np.ndarray, likelihood: float | None = None) -> Attempt:
    return Attempt(id=n, iteration=0, parent=None, change_kind="hyperparameters", change="x", recipe=Recipe(),
                   score=float(metric_of(rows.sum(axis=0))), likelihood=likelihood, evidence=rows)


def test_entity_evidence_recomputes_the_corpus_f1() -> None:
    def span(start: int, end: int, label: str) -> Span:
        return Span(start=start, end=end, label=label)

    examples = [Example(text="Ann met Bob", id="a", spans=(span(0, 3, "PER"), span(8, 11, "PER"))),
                Example(text="in Paris", id="b", spans=(span(3, 8, "LOC"),))]
    predicted = [Output(spans=[span(0, 3, "PER")]), Output(spans=[span(3, 8, "ORG")])]
    evaluation = Evaluation(metric_name="entity_f1", metric=0.4, ids=["a", "b"], correct=[False, False],
                            predictions=predicted)
    rows = item_evidence("entity_extraction", evaluation, examples)
    assert rows.tolist() == [[1, 0, 1], [0, 1, 1]]
    assert metric_of(rows.sum(axis=0)) == 2 * 1 / (2 * 1 + 1 + 2)


def test_a_gain_of_a_few_sentences_on_a_small_set_is_noise_and_a_broad_gain_is_not() -> None:
    old = _right([1] * 10 + [0] * 10)
    # Four more right and two lost, of 20: a net gain of 10 points, within the half's sampling error.
    lucky = _right([1] * 8 + [0, 0] + [1] * 4 + [0] * 6)
    gain, error = paired_gain(lucky, old)
    assert round(gain, 6) == 0.1 and error > gain
    assert clearly_better(lucky, old, 0.6, 0.5) == 0
    broad = _right([1] * 18 + [0] * 2)  # eight more right, none lost
    assert clearly_better(broad, old, 0.9, 0.5) == 1
    assert clearly_better(old, broad, 0.5, 0.9) == -1


def test_the_search_keeps_the_defaults_unless_a_move_clearly_beats_them() -> None:
    defaults = _attempt(0, _right([1] * 10 + [0] * 10))
    noisy = _attempt(1, _right([1] * 8 + [0, 0] + [1] * 4 + [0] * 6))  # 12 right, but two the defaults had lost
    assert noisy.score > defaults.score
    assert _best([defaults, noisy]).id == 0
    clear = _attempt(2, _right([1] * 19 + [0]))
    assert _best([defaults, noisy, clear]).id == 2
    # Within the noise, the likelihood decides where both have one.
    a, b = _attempt(0, _right([1] * 10 + [0] * 10), -0.9), _attempt(1, _right([1] * 11 + [0] * 9), -0.5)
    assert _best([a, b]).id == 1 and _best([b, a]).id == 1


def test_a_refit_that_fails_the_gate_gives_way_to_the_candidate_as_validated() -> None:
    from types import SimpleNamespace

    from pioneer.coldstart.run import Observer, release
    from pioneer.coldstart.search import SearchResult
    from pioneer.coldstart.sources import Sourced

    def items(n: int, prefix: str) -> list[Sourced]:
        return [Sourced(Example(text=f"{prefix} {k}", id=f"{prefix}{k}", label="a"), "user") for k in range(n)]

    best = _attempt(0, _right([1, 0]))
    candidate, validation = items(4, "pool"), items(2, "val")
    calls: list[tuple[int, int, str]] = []

    def train_first(train, held_out, config):  # the gate passes only a release trained on the pool alone
        calls.append((len(train), len(held_out), config))
        return SimpleNamespace(released=len(train) == len(candidate))

    def result() -> SearchResult:
        return SearchResult(attempts=[best], best=best, stop_reason="budget", train=candidate + validation,
                            config="refit", candidate_train=list(candidate), candidate_config="validated")

    first = result()
    assert release(train_first, first, [i.example for i in validation], Observer()).released
    assert calls == [(6, 0, "refit"), (4, 2, "validated")] and first.fell_back and first.train == candidate
    calls.clear()
    passing = result()
    passing.candidate_train = candidate + validation  # nothing refitted: the one release is final
    assert not release(train_first, passing, [], Observer()).released and calls == [(6, 0, "refit")]
