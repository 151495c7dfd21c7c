"""How a retrain spends R on constructed evidence: its search half screens, its certifying half certifies."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pioneer.curriculum.builder import Curriculum
from pioneer.events import GateReport, Output
from pioneer.gates.regression import SEARCH_HALF_CHECK, RegressionGate
from pioneer.retrain.datasets import RetrainData
from pioneer.retrain.gating import Candidate, Gating, gate_iteration
from pioneer.retrain.loop import Retrainer, _only_progress_failed
from pioneer.retrain.progress import ProgressReporter
from pioneer.retrain.recipes import Recipe
from pioneer.retrain.regression_set import RegressionSet, in_search_half
from pioneer.training.base import Evaluation, Example
from pioneer.trigger import FAILURES_PREFIX


class Answers:
    """A model known only by which examples it gets wrong (the gate reads nothing else)."""

    def __init__(self, wrong: set[str]) -> None:
        self.wrong = wrong

    def evaluate(self, examples: Sequence[Example]) -> Evaluation:
        correct = [e.id not in self.wrong for e in examples]
        return Evaluation(
            metric_name="accuracy", metric=sum(correct) / max(1, len(correct)), ids=[e.id for e in examples],
            correct=correct, predictions=[Output(label=e.label) for e in examples],
        )


def world(size: int = 2000) -> tuple[RetrainData, list[Example], list[Example], Evaluation]:
    gate_set = [Example(id=f"g{i}", text=f"gate {i}", label="a") for i in range(300)]
    kept = [Example(id=f"r{i}", text=f"kept {i}", label="a") for i in range(size)]
    regression = RegressionSet(examples=kept, reserved_ids=frozenset(), share=0.1, cap=10_000, from_traffic=0,
                               from_earlier=len(kept), sampled_out=0)
    data = RetrainData(task="classification", base_train=[], gold=[], confusions={}, pool=[], replay=[], coverage=[],
                       validation=[], gate_set=gate_set, pattern_gate={}, slices={}, checkpoints=[],
                       regression=regression)
    search = [e for e in kept if in_search_half(e.id)]
    certifying = [e for e in kept if not in_search_half(e.id)]
    return data, search, certifying, Answers(set()).evaluate(gate_set)


def candidate(name: str, wrong: set[str]) -> Candidate:
    return Candidate(Recipe(name=name), Answers(wrong), Curriculum(items=[]), [], 1.0, 0.0)  # type: ignore[arg-type]


def gating_over(data: RetrainData, on_gate: Evaluation) -> Gating:
    """The gate's view of a retrain whose production gets every example of R right."""
    return Gating(RegressionGate(), data, (on_gate, {e.id: True for e in data.regression_examples()}), "v1",
                   pooled=False)


def gate_ranked(candidates: list[Candidate], gating: Gating) -> tuple[Candidate, GateReport, bool]:
    """One iteration's gating of ``candidates``: the judged one, its report, and whether it passed."""
    (judged, _, report), passed = gate_iteration(candidates, gating, 0, ProgressReporter("rr-1", "m"), None)
    return judged, report, passed


def test_a_candidate_that_breaks_the_search_half_is_refused_without_spending_a_certification() -> None:
    data, search, certifying, on_gate = world()
    gating = gating_over(data, on_gate)

    breaks_search = candidate("breaks-search", {e.id for e in search[:8]})
    report = gating.judge(breaks_search, breaks_search.adapter.evaluate(data.gate_set))
    assert not report.passed and [c.name for c in report.checks if not c.passed] == [SEARCH_HALF_CHECK]
    assert gating.certified == 0 and breaks_search.flip_verdict is None  # the certifying half never saw it

    # the next candidate is R's first certification, read at the contract's own confidence: 1 flip of ~1,000 passes
    keeps = candidate("keeps", {certifying[0].id})
    report = gating.judge(keeps, keeps.adapter.evaluate(data.gate_set))
    assert report.passed and gating.certified == 1
    verdict = keeps.flip_verdict
    assert verdict is not None and verdict.flips == 1 and verdict.certification == 1 and verdict.allowed >= 1


def test_a_search_half_too_small_to_certify_the_rate_does_not_screen() -> None:
    data, search, certifying, on_gate = world(size=200)
    gating = gating_over(data, on_gate)
    assert len(search) < RegressionGate().contract(1).min_size()

    # one search-half flip would be refused by a screen; here the certifying half, clean, decides alone
    breaks_search = candidate("breaks-search", {search[0].id})
    report = gating.judge(breaks_search, breaks_search.adapter.evaluate(data.gate_set))
    assert report.passed and gating.certified == 1
    assert breaks_search.flip_verdict is not None and breaks_search.flip_verdict.small

    # and that half allows no flip, at any certification
    breaks_certifying = candidate("breaks-certifying", {certifying[0].id})
    report = gating.judge(breaks_certifying, breaks_certifying.adapter.evaluate(data.gate_set))
    assert not report.passed and gating.certified == 2
    assert [c.name for c in report.checks if not c.passed] != [SEARCH_HALF_CHECK]


def test_where_the_search_half_screens_it_chooses_the_one_candidate_r_certifies() -> None:
    data, search, certifying, on_gate = world()
    gating = gating_over(data, on_gate)
    assert gating.screens
    # both keep the contract on the search half; the favourite by validation breaks one example there, and more
    # of the certifying half
    eager = candidate("eager", {search[0].id, *(e.id for e in certifying[:20])})
    careful = candidate("careful", set())
    careful.score = 0.5

    judged, report, passed = gate_ranked([eager, careful], gating)
    # the search half chose the one breaking fewer of its examples; the certifying half judged it alone
    assert passed and judged is careful and report.passed and gating.certified == 1
    assert eager.search_flips == 1 and careful.search_flips == 0
    assert eager.verdict is not None and eager.verdict["passed"] and not eager.verdict["certified"]
    assert careful.verdict is not None and careful.verdict["certified"]


def test_where_r_is_too_small_to_screen_the_gate_set_chooses_the_one_candidate_r_certifies() -> None:
    data, search, certifying, _ = world(size=200)
    on_gate = Answers({"g1", "g2"}).evaluate(data.gate_set)  # production's two gate-set failures, both fixed below
    gating = gating_over(data, on_gate)
    assert not gating.screens
    # both keep ε on the gate set; the favourite by validation breaks one gate example and one of R's search half,
    # and would also break the certifying half, where no flip is allowed
    eager = candidate("eager", {"g0", search[0].id, certifying[0].id})
    careful = candidate("careful", set())
    careful.score = 0.5

    judged, report, passed = gate_ranked([eager, careful], gating)
    # certified one after the other, the eager one would have been judged first; chosen by what the screen saw,
    # only the careful one is, and the certifying half is spent once
    assert passed and judged is careful and report.passed and gating.certified == 1
    assert eager.screen_flips == 2 and careful.screen_flips == 0
    assert eager.verdict is not None and eager.verdict["passed"] and not eager.verdict["certified"]


def test_the_certifying_half_refusing_the_chosen_candidate_ends_the_iteration() -> None:
    data, search, certifying, _ = world(size=200)
    on_gate = Answers({"g1", "g2"}).evaluate(data.gate_set)
    gating = gating_over(data, on_gate)
    # the one the screen prefers breaks the certifying half; the other is never certified in its place
    unlucky = candidate("unlucky", {certifying[0].id})
    other = candidate("other", {"g0"})

    judged, report, passed = gate_ranked([unlucky, other], gating)
    assert not passed and judged is unlucky and gating.certified == 1
    assert other.verdict is not None and not other.verdict["certified"]


def test_where_r_allows_no_flip_a_step_that_fixes_many_and_broke_one_is_worth_more_than_a_timid_one() -> None:
    data, search, certifying, _ = world(size=200)
    on_gate = Answers({f"g{i}" for i in range(40)}).evaluate(data.gate_set)  # production fails 40 gate examples
    gating = gating_over(data, on_gate)
    big = candidate("big", {"g100"})  # fixes all 40, breaks one gate example
    timid = candidate("timid", {f"g{i}" for i in range(5, 40)})  # fixes 5, breaks nothing
    timid.score = 0.5

    judged, report, passed = gate_ranked([timid, big], gating)
    assert (big.screen_fixes, big.screen_flips, timid.screen_fixes, timid.screen_flips) == (40, 1, 5, 0)
    assert gating.expected_gain(big) > gating.expected_gain(timid)
    assert passed and judged is big and gating.certified == 1


def test_once_r_refused_a_step_the_next_certification_goes_to_one_that_broke_nothing_on_the_screen() -> None:
    data, search, certifying, _ = world(size=200)
    on_gate = Answers({f"g{i}" for i in range(40)}).evaluate(data.gate_set)
    gating = gating_over(data, on_gate)
    # every step along the line breaks the same example of R (one in each half); only the smallest breaks none
    def step(name: str, fixed: int, breaks: bool) -> Candidate:
        broken = (search[0].id, certifying[0].id) if breaks else ()
        return candidate(name, {*(f"g{i}" for i in range(fixed, 40)), *broken})

    first, _, passed = gate_ranked([step("it0-big", 40, True), step("it0-small", 8, False)], gating)
    assert not passed and first.recipe.name == "it0-big" and gating.refused_step == 40
    big, small = step("it1-big", 40, True), step("it1-small", 8, False)
    judged, _, passed = gate_ranked([big, small], gating)
    assert gating.expected_gain(big) > gating.expected_gain(small)  # the screen alone would bet on the big one again
    assert passed and judged is small and gating.certified == 2


def test_after_a_refusal_the_next_certification_bisects_the_step() -> None:
    data, search, certifying, _ = world(size=200)
    on_gate = Answers({f"g{i}" for i in range(40)}).evaluate(data.gate_set)
    gating = gating_over(data, on_gate)
    # every step of 25 fixes or more breaks one example of R's certifying half, which the screen never sees
    def step(name: str, fixed: int) -> Candidate:
        return candidate(name, {*(f"g{i}" for i in range(fixed, 40)), *((certifying[0].id,) if fixed >= 25 else ())})

    first, _, passed = gate_ranked([step("it0-big", 40), step("it0-small", 12)], gating)
    assert not passed and first.recipe.name == "it0-big" and gating.refused_step == 40
    medium, small = step("it1-medium", 30), step("it1-small", 12)
    judged, _, passed = gate_ranked([medium, small], gating)
    assert medium.screen_flips == small.screen_flips == 0  # the screen cannot tell them apart but by their size
    assert gating.expected_gain(medium) > gating.expected_gain(small)
    assert passed and judged is small and gating.certified == 2  # at most half of the 40 R refused


def test_where_r_can_see_a_few_flips_the_smaller_step_that_broke_none_is_chosen() -> None:
    data, search, certifying, _ = world(size=4000)
    on_gate = Answers({f"g{i}" for i in range(40)}).evaluate(data.gate_set)
    gating = gating_over(data, on_gate)
    assert gating.screens
    # within the contract on the search half (2 flips there), yet likely to break as many of the certifying half
    big = candidate("big", {"g100", search[0].id, search[1].id})
    medium = candidate("medium", {f"g{i}" for i in range(20, 40)})  # fixes 20, breaks nothing
    medium.score = 0.5

    judged, report, passed = gate_ranked([big, medium], gating)
    assert big.screen_flips == 3 and medium.screen_flips == 0
    assert gating.expected_gain(medium) > gating.expected_gain(big)
    assert passed and judged is medium and gating.certified == 1


def progress_world() -> tuple[RetrainData, Evaluation, list[Example]]:
    """A broad retrain: production fails g0-g9 of the gate set, the failures as a whole are the pattern; also
    returns R's search half."""
    data, search, _, _ = world()
    failing = {f"g{i}" for i in range(10)}
    data = dataclasses.replace(data, pattern_gate={f"{FAILURES_PREFIX}x": sorted(failing)})
    return data, Answers(failing).evaluate(data.gate_set), search


def test_a_step_the_gate_set_cannot_prove_is_refused_first_and_released_on_its_counts_at_the_end() -> None:
    data, on_gate, _ = progress_world()
    strict = Gating(RegressionGate(progress_confidence=0.95), data,
                    (on_gate, {e.id: True for e in data.regression_examples()}), "v1", pooled=False)
    # fixes g0-g2, breaks g100: better on the gate set, but 3 against 1 is p = 0.31
    step = candidate("step", {*(f"g{i}" for i in range(3, 10)), "g100"})
    judged, report, passed = gate_ranked([step], strict)
    assert not passed and [c.name for c in report.checks if not c.passed] == [f"pattern_fix_rate:{FAILURES_PREFIX}x"]
    assert _only_progress_failed(step)

    relaxed = strict.without_progress_proof()
    judged, report, passed = gate_ranked([step], relaxed)
    progress = next(c for c in report.checks if c.name == f"pattern_fix_rate:{FAILURES_PREFIX}x")
    assert passed and judged is step and "must fix more than it breaks" in progress.detail and relaxed.certified == 1
    assert strict.gate.progress_confidence == 0.95  # the search's own gate is unchanged


def test_the_search_falls_back_on_the_counts_only_for_candidates_that_failed_nothing_else() -> None:
    data, on_gate, search = progress_world()
    gate = RegressionGate(progress_confidence=0.95)
    retrainer = Retrainer(gate=gate)
    gating = Gating(gate, data, (on_gate, {e.id: True for e in data.regression_examples()}), "v1", pooled=False)
    step = candidate("step", {*(f"g{i}" for i in range(3, 10)), "g100"})
    # fixes 4 and breaks none on the gate set, but 8 of R's search half: refused there once progress is not asked
    breaks_r = candidate("breaks-r", {*(f"g{i}" for i in range(4, 10)), *(e.id for e in search[:8])})
    even = candidate("even", {*(f"g{i}" for i in range(1, 10)), "g100"})  # fixes 1, breaks 1: no progress at all
    reporter = ProgressReporter("rr-1", "m")
    judged, passed = gate_iteration([breaks_r, even, step], gating, 2, reporter, None)
    assert not passed
    unproven = [(2, c) for c in (breaks_r, even, step) if _only_progress_failed(c)]
    assert [c.recipe.name for _, c in unproven] == ["breaks-r", "even", "step"]  # each failed progress alone
    tried = [{"iteration": 2, "recipe": {"name": c.recipe.name}, "chosen": False} for c in (breaks_r, even, step)]
    fallback, tried = retrainer._unproven_progress(unproven, gating, 2, reporter, judged, tried)
    assert fallback is not None and fallback[0] is step and fallback[2].passed
    assert any("judged by their counts" in note for note in fallback[2].notes)  # the record says why it passed
    assert [t["recipe"]["name"] for t in tried if t["chosen"]] == ["step"]
    assert breaks_r.verdict is not None and SEARCH_HALF_CHECK in breaks_r.verdict["failed"]
    assert even.verdict is not None and not even.verdict["passed"]

    # with the counts from the start there is nothing to fall back on
    counts = Retrainer(gate=RegressionGate())
    assert counts._unproven_progress([(2, step)], gating, 2, reporter, judged, [])[0] is judged


def test_the_fallback_reaches_back_to_earlier_iterations_and_the_record_marks_the_one_released() -> None:
    data, on_gate, _ = progress_world()
    gate = RegressionGate(progress_confidence=0.95)
    gating = Gating(gate, data, (on_gate, {e.id: True for e in data.regression_examples()}), "v1", pooled=False)
    reporter = ProgressReporter("rr-1", "m")
    early = candidate("it0-a@0.3", {*(f"g{i}" for i in range(3, 10)), "g100"})  # 3 fixed, 1 broken
    late = candidate("it2-a", {*(f"g{i}" for i in range(10)), *(f"g{i}" for i in range(100, 110))})  # worse
    gate_iteration([early], gating, 0, reporter, None)
    judged, passed = gate_iteration([late], gating, 2, reporter, None)
    assert not passed and _only_progress_failed(early) and not _only_progress_failed(late)
    tried = [{"iteration": 0, "recipe": {"name": "it0-a@0.3"}, "chosen": True},
             {"iteration": 2, "recipe": {"name": "it2-a"}, "chosen": True}]
    fallback, tried = Retrainer(gate=gate)._unproven_progress([(0, early)], gating, 2, reporter, judged, tried)
    assert fallback is not None and fallback[0] is early and fallback[2].passed
    assert [(t["iteration"], t["recipe"]["name"]) for t in tried if t["chosen"]] == [(0, "it0-a@0.3")]
