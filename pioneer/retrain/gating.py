"""How one retrain gates its candidates: production's baselines, the gate set's checks, and R's two halves.

Each iteration's candidates are gated in :func:`~pioneer.retrain.ranking.gating_order`. Without R the first that
passes the gate set is released. With R every candidate is *screened* (the gate set's checks, then R's search
half where it can certify the rate) and R's certifying half judges one of them: the one expected to gain the
most, its net fixes on the screen times the chance that the half lets it through. Each certification spends
part of the contract's confidence (:class:`~pioneer.gates.FlipContract`), so one per iteration keeps it for the
candidate chosen.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from pioneer.curriculum.builder import Curriculum
from pioneer.events import GateCheck, GateReport
from pioneer.gates.contract import FlipVerdict
from pioneer.gates.regression import SEARCH_HALF_CHECK, RegressionGate, rejected_note
from pioneer.retrain.datasets import RetrainData
from pioneer.retrain.progress import ProgressReporter
from pioneer.retrain.ranking import gating_order
from pioneer.retrain.recipes import Recipe
from pioneer.significance import item_evidence
from pioneer.training.base import Evaluation, Example, TaskAdapter
from pioneer.trigger import FAILURES_PREFIX

Judged = tuple["Candidate", Evaluation, GateReport]


@dataclasses.dataclass(slots=True)
class Candidate:
    """One model a retrain trained or blended, with what the gate found of it."""

    recipe: Recipe
    adapter: TaskAdapter
    curriculum: Curriculum
    train: list[Example]
    score: float
    seconds: float
    verdict: dict[str, Any] | None = None
    """What the gate said of it (None until it is gated: see ``_verdict``)."""
    regression: dict[str, bool] | None = None
    """Example id -> right, on R's certifying half (None until R certifies it, or without R)."""
    flip_verdict: FlipVerdict | None = None
    """The flip contract's verdict on R's certifying half (None until R certifies it, or without R)."""
    search_flips: int | None = None
    """Examples of R's search half production gets right that it gets wrong (None unless it was counted there)."""
    screen_flips: int | None = None
    """What the screen saw it break: gate-set flips plus ``search_flips`` (None until it passes a screen)."""
    screen_fixes: int | None = None
    """Gate-set examples production gets wrong that it gets right (None until it passes a screen; R holds only
    what works, so fixes are counted on the gate set alone)."""
    evidence: Any = None
    """Per-validation-example counts behind ``score`` (None until the gating order asks for them)."""


class Gating:
    """The gate's view of one retrain: production's baselines, the pattern checks, and how many candidates R has
    certified so far (each certification spends part of the contract's confidence)."""

    def __init__(
        self, gate: RegressionGate, data: RetrainData, baselines: tuple[Evaluation, dict[str, bool] | None],
        production_version: str, *, pooled: bool,
    ) -> None:
        self.gate, self.data, self.production_version = gate, data, production_version
        self.baseline, on_r = baselines
        certifying = data.regression_certifying()
        self.certifying = certifying
        self.baseline_r = None if on_r is None else {e.id: on_r[e.id] for e in certifying if e.id in on_r}
        self.search = data.regression_search()
        self.baseline_search = None if on_r is None else {e.id: on_r[e.id] for e in self.search if e.id in on_r}
        # production judged against itself: whether 0 flips on the search half certifies the rate
        own = None if not self.baseline_search else gate.judge_regression(self.baseline_search, self.baseline_search)
        self.screens = own is not None and not own.small
        self.certified = 0
        self.refused_step: int | None = None
        """The smallest step R's certifying half refused in this retrain, as the fixes the screen saw it make."""
        self.baseline_by_id = self.baseline.correct_by_id()
        # what the screen saw production get right: the denominator of a candidate's flip rate there
        gate_right = sum(self.baseline_by_id.values())
        self.screen_right = gate_right + (sum(self.baseline_search.values()) if self.baseline_search else 0)
        self.patterns = data.pattern_gate
        if pooled and len(data.pattern_gate) > 1:
            # A weak model's retrain rebuilds its data rather than patching patterns one by one: the request's
            # patterns are judged together: the floor's share of all their held-out failures fixed, or progress
            # where the failures outside any emerging pattern are among them.
            pooled_ids = sorted({i for ids in data.pattern_gate.values() for i in ids})
            whole = any(p.startswith(FAILURES_PREFIX) for p in data.pattern_gate)
            self.patterns = {f"{FAILURES_PREFIX if whole else ''}all({len(data.pattern_gate)} patterns)": pooled_ids}

    def without_progress_proof(self) -> Gating:
        """This gating (the same baselines and certifications so far, which keep spending the contract's
        confidence) with a gate that asks a broad retrain only to fix more than it breaks."""
        relaxed = copy.copy(self)
        relaxed.gate = self.gate.clone(progress_confidence=None)
        return relaxed

    def judge(self, candidate: Candidate, evaluation: Evaluation) -> GateReport:
        """The gate's report on ``candidate``: :meth:`screen`, then :meth:`certify` if it passed."""
        report = self.screen(candidate, evaluation)
        if not report.passed or self.baseline_r is None:
            return report
        return self.certify(candidate, evaluation)

    def screen(self, candidate: Candidate, evaluation: Evaluation) -> GateReport:
        """Every check but R's certifying half: the gate set's, then R's search half where it screens. What a
        passing candidate breaks there is kept in ``candidate.screen_flips``."""
        report = self._evaluate(evaluation)
        if not report.passed or self.baseline_r is None:
            return report
        refused = self._screen(candidate, evaluation, report)
        if refused is not None:
            return refused
        on_gate = next((c.observed for c in report.checks if c.name == "negative_flips"), 0.0)
        candidate.screen_flips = int(on_gate) + (candidate.search_flips or 0)
        before = self.baseline_by_id
        candidate.screen_fixes = sum(1 for i, ok in evaluation.correct_by_id().items() if ok and not before.get(i, True))
        return report

    def expected_gain(self, candidate: Candidate) -> float:
        """What releasing ``candidate`` is expected to gain: the net fixes the screen saw, times the chance that R's
        certifying half lets it through. That chance reads its flip rate from the screen (Jeffreys' estimate) and
        the half's allowance at the next certification: where R is small and allows no flip, a candidate that
        fixes many and broke one can still be worth more than one that fixes few; where R can see a handful of
        flips, a large step that broke a few is unlikely to pass and a smaller one is chosen."""
        flips, fixes = candidate.screen_flips or 0, candidate.screen_fixes or 0
        return (fixes - flips) * self._pass_chance(flips)

    def _pass_chance(self, flips: int) -> float:
        from scipy.stats import binom

        n = sum(self.baseline_r.values()) if self.baseline_r else 0
        if n == 0:
            return 1.0
        verdict = self.gate.judge_regression(self.baseline_r, self.baseline_r, self.certified + 1)
        allowed = verdict.allowed if verdict is not None else self.gate.epsilon
        if allowed is None:
            return 1.0
        return float(binom.cdf(allowed, n, (flips + 0.5) / (self.screen_right + 1)))

    def certify(self, candidate: Candidate, evaluation: Evaluation) -> GateReport:
        """The report with R's certifying half, for a candidate :meth:`screen` passed: its verdict alone decides."""
        self.certified += 1
        candidate.regression = regression_correct(candidate.adapter, evaluation, self.certifying) or {}
        candidate.flip_verdict = self.gate.judge_regression(self.baseline_r, candidate.regression, self.certified)
        if candidate.flip_verdict is not None and not candidate.flip_verdict.passed:
            step = candidate.screen_fixes or 0
            self.refused_step = step if self.refused_step is None else min(self.refused_step, step)
        return self._evaluate(evaluation, regression=(self.baseline_r, candidate.regression),
                              certification=self.certified)

    def _evaluate(self, evaluation: Evaluation, **regression: Any) -> GateReport:
        return self.gate.evaluate(
            evaluation, baseline=self.baseline, baseline_version=self.production_version,
            checkpoints=self.data.checkpoints, slices=self.data.slices, patterns=self.patterns, **regression,
        )

    def _screen(self, candidate: Candidate, evaluation: Evaluation, report: GateReport) -> GateReport | None:
        """``report`` failed when ``candidate`` breaks the contract on R's search half (None: it keeps it, the half
        is too small to certify the rate, or there is no such contract). The search half's flips are counted
        either way, to choose what the certifying half judges; while the half is too small to certify the rate,
        refusing on it would only be a second zero-flip test."""
        if not self.baseline_search:
            return None
        on_search = regression_correct(candidate.adapter, evaluation, self.search) or {}
        verdict = self.gate.judge_regression(self.baseline_search, on_search)
        if verdict is None:
            return None
        candidate.search_flips = verdict.flips
        if verdict.passed or not self.screens:
            return None
        check = GateCheck(
            name=SEARCH_HALF_CHECK, passed=False, observed=float(verdict.flips), threshold=float(verdict.allowed),
            detail=(f"{verdict.flips} of {verdict.n} examples of R's search half production gets right now fail"
                    f" (the contract allows {verdict.allowed}); R's certifying half did not judge it."),
        )
        notes = [*report.notes, *([rejected_note(report.baseline_version)] if report.baseline_version else [])]
        return dataclasses.replace(report, passed=False, checks=[*report.checks, check], notes=notes)


def gate_iteration(
    candidates: list[Candidate],
    gating: Gating,
    iteration: int,
    reporter: ProgressReporter,
    judged: Judged | None,
) -> tuple[Judged, bool]:
    """Gate ``candidates`` in :func:`~pioneer.retrain.ranking.gating_order`, stopping at the first that passes:
    the validation set is small, so the runner-up often keeps within the flip budget where the favourite does
    not (where there is R, :func:`_gate_chosen` decides instead). Returns the judged candidate (the passing
    one, else the best by validation) and whether it passed."""
    ranked = gating_order(candidates, lambda c: _validation_evidence(c, gating.data))
    favourite = max(candidates, key=lambda c: c.score)  # the first of the best scores, as listed
    if gating.baseline_r is not None:
        return _gate_chosen(ranked, favourite, gating, iteration, reporter, judged)
    for candidate in ranked:
        evaluation, gate_report = _gate_one(candidate, gating.judge, gating, iteration, reporter)
        if candidate is favourite or gate_report.passed:
            # The favourite's report steers the next iteration unless another candidate passes.
            judged = (candidate, evaluation, gate_report)
        if gate_report.passed:
            return judged, True
    assert judged is not None
    return judged, False


def _gate_chosen(
    ranked: list[Candidate],
    favourite: Candidate,
    gating: Gating,
    iteration: int,
    reporter: ProgressReporter,
    judged: Judged | None,
) -> tuple[Judged, bool]:
    """Where there is R: every candidate is screened, and R's certifying half judges only the one expected to
    gain the most (:meth:`Gating.expected_gain`; the first in the gating order among equals). One certification
    per iteration: the half then tests the candidate chosen, not the luckiest of dozens it was shown. Once the
    half has refused a step of this retrain, the screen's estimate of what a step breaks there has proved
    optimistic (the flips of blends along one line fall on the same examples, not independently), so the next
    certification bisects: it goes to a step at most half the size of the smallest refused one (fixes on the
    gate set), and among those to one that broke nothing the screen saw, where there are such: a smaller step,
    not a looser gate."""
    screened: list[tuple[Candidate, Evaluation]] = []
    for candidate in ranked:
        evaluation, gate_report = _gate_one(candidate, gating.screen, gating, iteration, reporter)
        if candidate is favourite:
            judged = (candidate, evaluation, gate_report)
        if gate_report.passed:
            screened.append((candidate, evaluation))
    if not screened:
        assert judged is not None
        return judged, False
    if gating.refused_step is not None:
        half = [pair for pair in screened if (pair[0].screen_fixes or 0) <= gating.refused_step / 2]
        reporter.emit("gating", iteration=iteration, message=(
            f"R refused a step of {gating.refused_step} fixes; {len(half)} of {len(screened)} screened candidates"
            " take at most half of it"))
        pool = half or screened
        screened = [pair for pair in pool if not pair[0].screen_flips] or pool
    candidate, evaluation = max(screened, key=lambda pair: gating.expected_gain(pair[0]))
    gate_report = gating.certify(candidate, evaluation)
    candidate.verdict = _verdict(gate_report, candidate)
    return (candidate, evaluation, gate_report), gate_report.passed


def _gate_one(
    candidate: Candidate, judge: Callable[[Candidate, Evaluation], GateReport], gating: Gating,
    iteration: int, reporter: ProgressReporter,
) -> tuple[Evaluation, GateReport]:
    """``candidate``'s gate-set evaluation and ``judge``'s report on it, with their progress events."""
    reporter.emit("evaluating", iteration=iteration, candidate=candidate.recipe.name,
                  metrics={"validation": candidate.score})
    evaluation = candidate.adapter.evaluate(gating.data.gate_set)
    reporter.emit("gating", iteration=iteration, candidate=candidate.recipe.name)
    gate_report = judge(candidate, evaluation)
    reporter.emit(
        "gating",
        iteration=iteration,
        candidate=candidate.recipe.name,
        message=f"gate {'passed' if gate_report.passed else 'failed'}: "
        + ", ".join(f"{c.name}={'ok' if c.passed else 'FAIL'}" for c in gate_report.checks),
    )
    candidate.verdict = _verdict(gate_report, candidate)
    return evaluation, gate_report


def _validation_evidence(candidate: Candidate, data: RetrainData) -> Any:
    """``candidate``'s per-example validation counts for the gating order; None for a generator (one more decode
    of the validation set would cost a good part of a retrain) or without validation examples."""
    if data.task == "generation" or not data.validation:
        return None
    if candidate.evidence is None:
        evaluation = candidate.adapter.evaluate(data.validation)
        candidate.evidence = item_evidence(data.task, evaluation, data.validation)
    return candidate.evidence


def regression_correct(
    adapter: TaskAdapter, on_gate: Evaluation, examples: Sequence[Example]
) -> dict[str, bool] | None:
    """``adapter``'s results on ``examples`` of R (example id -> right), None without any. Examples shared with the
    gate set are read from ``on_gate``; the rest are evaluated in one batch (a head reads cached embeddings)."""
    if not examples:
        return None
    known = on_gate.correct_by_id()
    out = {e.id: known[e.id] for e in examples if e.id in known}
    rest = [e for e in examples if e.id not in known]
    if rest:
        out.update(adapter.evaluate(rest).correct_by_id())
    return out


def _verdict(report: GateReport, candidate: Candidate) -> dict[str, Any]:
    """What the gate said of one candidate, for the decision record: every gated candidate's reason is kept,
    not only the favourite's (a blend that kept within the flip budget may have failed on pattern fixes);
    ``certified`` says whether R's certifying half judged it (a screened candidate another was chosen over was not)."""
    flips = next((c.observed for c in report.checks if c.name == "negative_flips"), None)
    on_r = next((c.observed for c in report.checks if c.name == "regression_set_flips"), None)
    return {
        "passed": report.passed,
        "failed": [c.name for c in report.checks if not c.passed],
        "negative_flips": flips,
        "regression_negative_flips": on_r,
        "search_half_flips": candidate.search_flips,
        "screen_flips": candidate.screen_flips,
        "screen_fixes": candidate.screen_fixes,
        "certified": candidate.flip_verdict is not None,
    }
