"""``RegressionGate``: decide whether a candidate may replace the production version, and say why.

A superset of TFMA's and MLflow's validation thresholds. Beyond value and change thresholds on the headline
metric it counts *negative flips*: examples the production version gets right that the candidate gets wrong.
An average can rise while a handful of things that worked break; an absolute count (ε = 2 by default) cannot
hide that. The same count runs on the evaluation sets of earlier checkpoints (a ratchet: accepted gains are
kept), per slice (label, error pattern) and on the target patterns' held-out failures. On the regression set R
(reserved traffic and earlier sets, :mod:`pioneer.retrain.regression_set`) the
:class:`~pioneer.gates.contract.FlipContract` bounds the flip *rate* too: its 95% upper bound must stay within
``regression_max_rate``, and a too-small R allows no flip at all.

The two traps of the existing tools have defined behaviour here:

- no baseline (a first model): only absolute checks run (metric floor, pattern fix rates), and the report
  says in a note that the flip and change checks did not run;
- no thresholds: construction refuses (``ConfigError``); and if none of the configured checks applies to
  the situation, the report fails closed instead of passing vacuously.

The gate is pure: it reads evaluations and returns a :class:`~pioneer.events.GateReport` (the "blessing").
It never moves an alias; promotion reads the stored report.

>>> from pioneer.training import Evaluation
>>> def ev(correct):
...     return Evaluation(metric_name="accuracy", metric=sum(correct) / len(correct), ids=["a", "b", "c", "d"],
...                       correct=correct, predictions=[])
>>> gate = RegressionGate(epsilon=0)
>>> gate.evaluate(ev([True, True, True, False]), baseline=ev([True, True, False, False]), baseline_version="v1").passed
True
>>> report = gate.evaluate(ev([False, True, True, True]), baseline=ev([True, True, False, False]))
>>> [(c.name, c.passed, c.observed) for c in report.checks][:1]
[('negative_flips', False, 1.0)]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pioneer.errors import ConfigError
from pioneer.events import GateCheck, GateReport
from pioneer.gates.contract import FlipContract, FlipVerdict
from pioneer.training.base import Evaluation
from pioneer.trigger import FAILURES_PREFIX
from pioneer.trigger.rates import sign_test_p, wilson_upper, z_score

FLIP_CHECKS = ("negative_flips", "cross_checkpoint_flips")
"""The checks that count broken examples on the gate set (a ratchet check's name adds ``:<version>``)."""
SEARCH_HALF_CHECK = "regression_search_flips"
"""The retrainer's check of R's search half, before the certifying half judges a candidate."""


def rejected_note(baseline_version: str) -> str:
    """The note of a report that refused a candidate: where production's alias stays."""
    return f"Rejected: the alias stays on {baseline_version}."


NO_BASELINE_NOTE = (
    "First version of this model: there is no baseline, so the flip, cross-checkpoint and change checks did not run."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointEval:
    """An earlier checkpoint's stored results on its own evaluation set, for the cross-checkpoint check."""

    version: str
    correct: Mapping[str, bool]
    """Example id -> whether that checkpoint got it right when it was gated."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RegressionGate:
    """Thresholds of the release gate; ``None`` disables a check. See the module docstring.

    Parameters
    ----------
    epsilon
        Most examples of the regression set R (those the baseline gets right) the candidate may get wrong.
        An absolute count, not a rate.
    cross_checkpoint_epsilon
        The same count on each earlier checkpoint's evaluation set, against what that checkpoint got right.
    slice_max_drop
        Largest allowed drop of the metric (accuracy over the slice's examples) on any slice.
    slice_min_size
        Slices with fewer examples are not judged (one flip in three examples is noise, not a drop).
    metric_min_delta
        The candidate's metric must be at least the baseline's plus this (0: not below production).
    pattern_fix_floor
        Smallest share of each target pattern's held-out failures the candidate must get right. The trigger's
        failures pattern (``p-failures-``: the failures as a whole, or those outside the emerging patterns) is
        judged by progress instead: see :meth:`_progress`.
    progress_confidence
        How progress is judged. None: the candidate fixes more than it breaks over every example the gate judged.
        A confidence (the trainer's default, 0.95): it fixes *surely* more, by a one-sided exact sign test at that
        confidence; the retrainer then gates on the counts only when no candidate of its search shows that
        (``Retrainer._unproven_progress``). The flip checks bound what a step may break either way.
    pattern_min_size
        Patterns with fewer held-out failures are judged pooled together (one check over their union), since
        a fix rate over one or two examples is a coin toss.
    pattern_confidence
        None (the default) judges the observed fix rate. A confidence (e.g. 0.95) fails a fix rate only when its
        upper Wilson bound at that one-sided confidence is below the floor: the evidence says the candidate fixes
        less than the floor, not just that too few held-out failures were there to show it (1 of 8 fixed passes a
        floor of 0.25 at 0.95; 2 of 40 does not). Meant for entity extraction, where a failure counts as fixed
        only when every entity of the sentence is right; on CLINC150 (AdaptFT quick, clustered flips) the
        observed rate was what refused a candidate that lowered held-out accuracy 0.911 → 0.893.
    regression_max_rate
        Largest negative-flip rate on R the upper confidence bound may show (with ``epsilon`` as the count);
        None judges R by the count ``epsilon`` alone.
    regression_confidence
        One-sided confidence of that bound.
    metric_floor
        Smallest metric accepted at all; the only metric check a first model (no baseline) gets. When production
        itself is below the floor, a candidate that beats production passes this check (the other checks still
        apply): refusing it would keep the worse model serving.
    """

    epsilon: int | None = 2
    cross_checkpoint_epsilon: int | None = 2
    slice_max_drop: float | None = 0.10
    slice_min_size: int = 10
    metric_min_delta: float | None = 0.0
    pattern_fix_floor: float | None = 0.5
    pattern_min_size: int = 5
    pattern_confidence: float | None = None
    progress_confidence: float | None = None
    metric_floor: float | None = 0.5
    regression_max_rate: float | None = 0.01
    regression_confidence: float = 0.95

    def __post_init__(self) -> None:
        thresholds = [
            self.epsilon,
            self.cross_checkpoint_epsilon,
            self.slice_max_drop,
            self.metric_min_delta,
            self.pattern_fix_floor,
            self.metric_floor,
        ]
        if all(value is None for value in thresholds):
            raise ConfigError("RegressionGate: no threshold is set; a gate without thresholds would approve nothing")
        for name in ("epsilon", "cross_checkpoint_epsilon"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ConfigError(f"RegressionGate: {name} must be a count >= 0 or None, got {value!r}")
        for name in ("slice_max_drop", "pattern_fix_floor", "metric_floor"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ConfigError(f"RegressionGate: {name} must be between 0 and 1 or None, got {value!r}")
        if self.metric_min_delta is not None and not -1.0 <= self.metric_min_delta <= 1.0:
            raise ConfigError(
                f"RegressionGate: metric_min_delta must be between -1 and 1, got {self.metric_min_delta!r}"
            )
        for name in ("pattern_confidence", "progress_confidence"):
            value = getattr(self, name)
            if value is not None and not 0.5 < value < 1.0:
                raise ConfigError(f"RegressionGate: {name} must be in (0.5, 1) or None, got {value!r}")
        if self.regression_max_rate is not None:
            try:
                self.contract()
            except ValueError as exc:
                raise ConfigError(f"RegressionGate: regression contract: {exc}") from exc
        for name in ("slice_min_size", "pattern_min_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"RegressionGate: {name} must be >= 1, got {getattr(self, name)!r}")

    def clone(self, **changes: object) -> RegressionGate:
        """A gate with some thresholds changed (gates are immutable)."""
        return dataclasses.replace(self, **changes)

    def contract(self, certification: int = 1) -> FlipContract:
        """The regression set's contract for a retrain's ``certification``-th candidate: ``epsilon`` as the count,
        ``regression_max_rate`` as the rate bound."""
        assert self.regression_max_rate is not None
        return FlipContract(epsilon=self.epsilon, max_rate=self.regression_max_rate,
                            confidence=self.regression_confidence, certification=certification)

    def judge_regression(
        self, baseline: Mapping[str, bool], candidate: Mapping[str, bool], certification: int = 1
    ) -> FlipVerdict | None:
        """The contract's verdict on R (``example id -> right`` for production and the candidate; a missing result
        counts as wrong) for a retrain's ``certification``-th candidate; None when ``regression_max_rate`` is off."""
        if self.regression_max_rate is None:
            return None
        right = [i for i, ok in baseline.items() if ok]
        flips = sum(1 for i in right if not candidate.get(i, False))
        return self.contract(certification).judge(flips, len(right))

    def thresholds(self) -> dict[str, float | None]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def evaluate(
        self,
        candidate: Evaluation,
        *,
        baseline: Evaluation | None = None,
        baseline_version: str | None = None,
        candidate_version: str | None = None,
        checkpoints: Sequence[CheckpointEval] = (),
        slices: Mapping[str, Sequence[str]] | None = None,
        patterns: Mapping[str, Sequence[str]] | None = None,
        regression: tuple[Mapping[str, bool], Mapping[str, bool]] | None = None,
        certification: int = 1,
    ) -> GateReport:
        """Judge ``candidate`` and return the report (never raises on a failing candidate).

        Parameters
        ----------
        candidate
            The candidate's evaluation on the gate set (plus any ids the checkpoints and patterns name).
        baseline
            The production version's evaluation on the same examples; None for a first model.
        checkpoints
            Earlier checkpoints' stored results; their ids must be among the candidate's.
        slices
            Slice name (``label:transfer``, ``pattern:p-7f3a``) -> example ids.
        patterns
            Target pattern id -> ids of its held-out failures (examples the production version got wrong).
        regression
            (production's, candidate's) ``example id -> right`` on the regression set R, judged by the contract.
        certification
            Which candidate of its retrain R certifies (1 for the first; see :mod:`pioneer.gates.contract`).
        """
        cand = candidate.correct_by_id()
        checks: list[GateCheck] = []
        notes: list[str] = []
        if baseline is None:
            notes.append(NO_BASELINE_NOTE)
        else:
            checks += self._against_baseline(candidate, baseline, slices, regression, notes, certification)
            if self.cross_checkpoint_epsilon is not None:
                checks += [
                    _flips(f"cross_checkpoint_flips:{c.version}", dict(c.correct), cand, self.cross_checkpoint_epsilon,
                           f"checkpoint {c.version}")
                    for c in checkpoints
                ]
        if self.pattern_fix_floor is not None and patterns:
            checks += self._patterns(patterns, cand, None if baseline is None else baseline.correct_by_id())
        if self.metric_floor is not None:
            checks.append(self._floor(candidate, baseline))
        if not checks:
            notes.append("No configured threshold applies here, so nothing was verified: refused (fail closed).")
        passed = bool(checks) and all(c.passed for c in checks)
        if not passed and baseline_version is not None:
            notes.append(rejected_note(baseline_version))
        return GateReport(
            passed=passed,
            baseline_version=baseline_version,
            candidate_version=candidate_version,
            checks=checks,
            notes=notes,
        )

    # ------------------------------------------------------------------------------------------- checks

    def _against_baseline(
        self, candidate: Evaluation, baseline: Evaluation, slices: Mapping[str, Sequence[str]] | None,
        regression: tuple[Mapping[str, bool], Mapping[str, bool]] | None, notes: list[str], certification: int,
    ) -> list[GateCheck]:
        """The checks that compare the candidate with production: flips, metric, slices and R's contract."""
        base, cand = baseline.correct_by_id(), candidate.correct_by_id()
        checks = []
        if self.epsilon is not None:
            checks.append(_flips("negative_flips", base, cand, self.epsilon, "the baseline"))
        if self.metric_min_delta is not None:
            checks.append(self._metric_vs_baseline(candidate, baseline))
        if self.slice_max_drop is not None and slices:
            checks.append(self._slices(base, cand, slices))
        if regression is not None and (self.regression_max_rate is not None or self.epsilon is not None):
            checks.append(self._regression(*regression, notes, certification))
        return checks

    def _patterns(
        self, patterns: Mapping[str, Sequence[str]], cand: Mapping[str, bool], base: Mapping[str, bool] | None
    ) -> list[GateCheck]:
        """One fix-rate check per pattern large enough to judge alone; the small ones pooled into one. A model's
        failures pattern (the trigger's ``p-failures-``) is judged by progress instead (:meth:`_progress`)."""
        whole = {p: ids for p, ids in patterns.items() if base is not None and p.startswith(FAILURES_PREFIX)}
        checks = [self._progress(p, ids, cand, base) for p, ids in whole.items() if base is not None]
        patterns = {p: ids for p, ids in patterns.items() if p not in whole}
        small = {p: ids for p, ids in patterns.items() if len(ids) < self.pattern_min_size}
        checks += [self._pattern(p, ids, cand) for p, ids in patterns.items() if p not in small]
        if len(small) == 1:
            ((pattern_id, ids),) = small.items()
            checks.append(self._pattern(pattern_id, ids, cand))
        elif small:
            pooled = [i for ids in small.values() for i in ids]
            checks.append(self._pattern(f"pooled({len(small)} patterns)", pooled, cand))
        return checks

    def _regression(
        self, base: Mapping[str, bool], cand: Mapping[str, bool], notes: list[str], certification: int
    ) -> GateCheck:
        verdict = self.judge_regression(base, cand, certification)
        if verdict is None:
            assert self.epsilon is not None
            return _flips("regression_set_flips", dict(base), cand, self.epsilon, "production on R")
        if verdict.n:
            notes.append(f"On the regression set R ({verdict.n} examples production gets right): {verdict.sentence()}."
                         + (" R is small, so no flip is allowed on it." if verdict.small else ""))
        return verdict.to_check()

    def _floor(self, candidate: Evaluation, baseline: Evaluation | None) -> GateCheck:
        assert self.metric_floor is not None
        floor = self.metric_floor
        detail = f"{candidate.metric_name} {candidate.metric:.4f} (floor {floor})."
        if baseline is not None and baseline.metric < floor:
            floor = min(floor, baseline.metric + 1e-9)  # strictly better than a production already below it
            detail = (f"{candidate.metric_name} {candidate.metric:.4f}; production {baseline.metric:.4f} is below the"
                      f" floor {self.metric_floor}, so the candidate must beat production.")
        return GateCheck(
            name="metric_floor", passed=candidate.metric >= floor, observed=candidate.metric, threshold=floor,
            detail=detail,
        )

    def _metric_vs_baseline(self, candidate: Evaluation, baseline: Evaluation) -> GateCheck:
        assert self.metric_min_delta is not None
        if candidate.ids != baseline.ids and set(candidate.ids) != set(baseline.ids):
            return GateCheck(
                name="metric_not_below_baseline",
                passed=False,
                detail="candidate and baseline were evaluated on different examples: cannot compare (fail closed).",
            )
        threshold = baseline.metric + self.metric_min_delta
        return GateCheck(
            name="metric_not_below_baseline",
            passed=candidate.metric >= threshold - 1e-12,
            observed=candidate.metric,
            threshold=threshold,
            detail=f"{candidate.metric_name} {candidate.metric:.4f} vs baseline {baseline.metric:.4f}"
            f" (needs >= baseline {self.metric_min_delta:+.4f}).",
        )

    def _slices(
        self, base: Mapping[str, bool], cand: Mapping[str, bool], slices: Mapping[str, Sequence[str]]
    ) -> GateCheck:
        assert self.slice_max_drop is not None
        judged, failing, worst = 0, [], 0.0
        for name, ids in slices.items():
            ids = [i for i in ids if i in base]
            if len(ids) < self.slice_min_size:
                continue
            judged += 1
            before = sum(base[i] for i in ids) / len(ids)
            after = sum(cand.get(i, False) for i in ids) / len(ids)
            drop = before - after
            worst = max(worst, drop)
            if drop > self.slice_max_drop + 1e-12:
                failing.append(f"{name} {before:.3f}->{after:.3f}")
        detail = (
            f"{judged} slices with >= {self.slice_min_size} examples judged; largest drop {worst:.3f}"
            f" (at most {self.slice_max_drop} allowed)."
        )
        if failing:
            detail += " Dropped too far: " + ", ".join(failing[:10]) + (" ..." if len(failing) > 10 else "")
        return GateCheck(
            name="slice_drop", passed=not failing, observed=worst, threshold=self.slice_max_drop, detail=detail
        )

    def _progress(
        self, pattern_id: str, ids: Sequence[str], cand: Mapping[str, bool], base: Mapping[str, bool]
    ) -> GateCheck:
        """The check of the trigger's failures pattern (the model's failures as a whole, or those outside its
        emerging patterns): over every example the gate judged, the candidate fixes more than it breaks (at
        ``progress_confidence``: surely more, by a one-sided exact sign test).

        A share of *all* failures fixed in one release asks for a step the flip budget forbids, so a model that
        fails broadly would never be released; the flip checks bound each step and this one asks for progress,
        so it improves over several releases instead. Significance is asked only when ``progress_confidence`` is
        set: near its ceiling a step fixes a point or two, which a gate set of a few hundred examples cannot show
        at 95% (3 fixed and 1 broken is p = 0.31), and what a step may break is the flip checks' promise, not
        this one's (docs/deployments.md, "Progress a gate set cannot prove")."""
        name = f"pattern_fix_rate:{pattern_id}"
        fixes = sum(1 for i, ok in base.items() if not ok and cand.get(i, False))
        breaks = sum(1 for i, ok in base.items() if ok and not cand.get(i, False))
        fixed = sum(cand.get(i, False) for i in ids)
        p = sign_test_p(fixes, breaks)
        detail = (f"{fixed} of {len(ids)} held-out failures of the failures pattern now right; over all "
                  f"{len(base)} judged examples {fixes} fixed and {breaks} broken")
        if self.progress_confidence is None:
            passed = fixes > breaks
            detail += f" (must fix more than it breaks; one-sided sign test p = {p:.3f})."
        else:
            passed = p <= 1.0 - self.progress_confidence + 1e-12
            detail += (f": better than production with one-sided p = {p:.3f} (sign test; at most "
                       f"{1.0 - self.progress_confidence:.2f}).")
        # no threshold: the counts decide, not the fix share (a rejection then quotes the detail)
        return GateCheck(name=name, passed=passed, observed=fixed / len(ids) if ids else 0.0, threshold=None,
                         detail=detail)

    def _pattern(self, pattern_id: str, ids: Sequence[str], cand: Mapping[str, bool]) -> GateCheck:
        assert self.pattern_fix_floor is not None
        name = f"pattern_fix_rate:{pattern_id}"
        if not ids:
            return GateCheck(
                name=name,
                passed=False,
                threshold=self.pattern_fix_floor,
                detail="no held-out failures to measure the fix rate on (fail closed).",
            )
        fixed = sum(cand.get(i, False) for i in ids)
        rate = fixed / len(ids)
        detail = f"{fixed} of {len(ids)} held-out failures of pattern {pattern_id} now right (floor {self.pattern_fix_floor}"
        judged = rate
        if self.pattern_confidence is not None:
            judged = wilson_upper(fixed, len(ids), z_score(self.pattern_confidence))
            detail += f"; judged by the {self.pattern_confidence:.0%} upper bound {judged:.3f}"
        return GateCheck(
            name=name,
            passed=judged >= self.pattern_fix_floor - 1e-12,
            observed=rate,
            threshold=self.pattern_fix_floor,
            detail=detail + ").",
        )


def _flips(name: str, reference: Mapping[str, bool], cand: Mapping[str, bool], epsilon: int, whom: str) -> GateCheck:
    """Count examples ``reference`` got right that the candidate gets wrong (a missing result counts as wrong)."""
    right = [i for i, ok in reference.items() if ok]
    flipped = [i for i in right if not cand.get(i, False)]
    missing = sum(1 for i in right if i not in cand)
    detail = f"{len(flipped)} of {len(right)} examples {whom} got right now fail (at most {epsilon} allowed)."
    if missing:
        detail += f" {missing} of them were not evaluated and count as failures."
    if flipped:
        detail += " E.g. " + ", ".join(flipped[:5]) + "."
    return GateCheck(
        name=name, passed=len(flipped) <= epsilon, observed=float(len(flipped)), threshold=float(epsilon), detail=detail
    )
