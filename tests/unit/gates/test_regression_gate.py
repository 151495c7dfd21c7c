"""RegressionGate: flips, ratchet, slices, patterns, metric; defined behaviour with no baseline or thresholds."""

from __future__ import annotations

import pytest

from pioneer.errors import ConfigError
from pioneer.events import EventCodec, ModelRef, ReleaseRejection
from pioneer.gates import NO_BASELINE_NOTE, CheckpointEval, RegressionGate
from pioneer.retrain.release import rejection_event
from pioneer.training import Evaluation
from pioneer.trigger import FAILURES_PREFIX

IDS = [f"e{i}" for i in range(20)]


def ev(correct: list[bool], ids: list[str] = IDS) -> Evaluation:
    return Evaluation(
        metric_name="accuracy", metric=sum(correct) / len(correct), ids=ids, correct=correct, predictions=[]
    )


def flipped(base: list[bool], wrong: list[int], right: list[int] = ()) -> list[bool]:
    out = list(base)
    for i in wrong:
        out[i] = False
    for i in right:
        out[i] = True
    return out


BASE = [True] * 15 + [False] * 5  # baseline gets e0..e14 right


def check(report, name):
    return next(c for c in report.checks if c.name == name)


@pytest.mark.parametrize(("flips", "passed"), [(0, True), (2, True), (3, False)])
def test_negative_flips_are_an_absolute_count(flips: int, passed: bool) -> None:
    # Each flip is paid back by a fix elsewhere, so accuracy never drops: only the flip count can reject.
    candidate = ev(flipped(BASE, wrong=list(range(flips)), right=list(range(15, 15 + flips))))
    report = RegressionGate(slice_max_drop=None).evaluate(candidate, baseline=ev(BASE), baseline_version="v1")
    assert check(report, "negative_flips").observed == flips
    assert report.passed is passed
    if not passed:
        assert "Rejected: the alias stays on v1." in report.notes


def test_a_missing_result_counts_as_a_flip() -> None:
    candidate = ev(BASE[1:], ids=IDS[1:])
    report = RegressionGate(epsilon=0).evaluate(candidate, baseline=ev(BASE))
    assert not check(report, "negative_flips").passed
    assert not check(report, "metric_not_below_baseline").passed  # different examples: cannot compare


def test_cross_checkpoint_ratchet_catches_what_production_already_lost() -> None:
    # The previous checkpoint got e15 and e16 right; production lost them (within its own epsilon);
    # the candidate keeps production's results but must not lose more than epsilon of the checkpoint's.
    previous = CheckpointEval(version="v0", correct=dict(zip(IDS, [True] * 18 + [False] * 2, strict=True)))
    candidate = ev(flipped(BASE, wrong=[0]))
    gate = RegressionGate(cross_checkpoint_epsilon=2, metric_min_delta=None)
    report = gate.evaluate(candidate, baseline=ev(BASE), checkpoints=[previous])
    ratchet = check(report, "cross_checkpoint_flips:v0")
    assert ratchet.observed == 4 and not ratchet.passed  # e15, e16 + e17 (never regained) + e0
    assert check(report, "negative_flips").passed


def test_slice_drop_judges_only_big_enough_slices() -> None:
    slices = {"label:a": IDS[:10], "label:b": IDS[10:12]}
    candidate = ev(flipped(BASE, wrong=[0, 1, 10], right=[15, 16, 17]))
    gate = RegressionGate(epsilon=5, slice_max_drop=0.1, slice_min_size=5)
    report = gate.evaluate(candidate, baseline=ev(BASE), slices=slices)
    drop = check(report, "slice_drop")
    assert not drop.passed and drop.observed == pytest.approx(0.2) and "label:a" in drop.detail
    assert "label:b" not in drop.detail  # 2 examples: below slice_min_size


def test_metric_must_not_drop_below_production() -> None:
    report = RegressionGate(epsilon=5).evaluate(ev(flipped(BASE, wrong=[0])), baseline=ev(BASE))
    assert not check(report, "metric_not_below_baseline").passed and not report.passed


def test_below_the_floor_a_candidate_must_beat_production_rather_than_reach_the_floor() -> None:
    weak = [True] * 4 + [False] * 16  # production 0.20, far below the floor 0.5
    better, worse = flipped(weak, wrong=[], right=[4, 5]), flipped(weak, wrong=[0])
    gate = RegressionGate(epsilon=2, metric_floor=0.5)
    assert check(gate.evaluate(ev(better), baseline=ev(weak)), "metric_floor").passed
    assert not check(gate.evaluate(ev(weak), baseline=ev(weak)), "metric_floor").passed  # equal is not better
    assert not check(gate.evaluate(ev(worse), baseline=ev(weak)), "metric_floor").passed
    # Without a baseline (a first model) the floor itself holds.
    assert not check(gate.evaluate(ev(better)), "metric_floor").passed


def test_pattern_fix_rate_floor_and_empty_pattern_fails_closed() -> None:
    patterns = {"p-1": ["e15", "e16", "e17", "e18"], "p-2": []}
    candidate = ev(flipped(BASE, wrong=[], right=[15]))
    report = RegressionGate(pattern_fix_floor=0.5, pattern_min_size=1).evaluate(
        candidate, baseline=ev(BASE), patterns=patterns
    )
    assert check(report, "pattern_fix_rate:p-1").observed == 0.25
    assert not check(report, "pattern_fix_rate:p-1").passed
    assert (
        not check(report, "pattern_fix_rate:p-2").passed
        and "fail closed" in check(report, "pattern_fix_rate:p-2").detail
    )


def test_a_fix_rate_fails_only_on_evidence_that_it_is_below_the_floor() -> None:
    gate = RegressionGate(pattern_fix_floor=0.5, pattern_min_size=1, pattern_confidence=0.95)
    one_of_four = ev(flipped(BASE, wrong=[], right=[15]))
    patterns = {"p-1": ["e15", "e16", "e17", "e18"]}
    fixed = check(gate.evaluate(one_of_four, baseline=ev(BASE), patterns=patterns), "pattern_fix_rate:p-1")
    assert fixed.observed == 0.25 and fixed.passed and "upper bound" in fixed.detail  # four examples show too little
    # 1 of 15 is evidence: the bound (about 0.25) is below the floor.
    patterns = {"p-1": [f"e{i}" for i in range(15, 30)]}
    many = ev(flipped(BASE, wrong=[], right=[15]))
    assert not check(gate.evaluate(many, baseline=ev(BASE), patterns=patterns), "pattern_fix_rate:p-1").passed
    with pytest.raises(ConfigError, match="pattern_confidence"):
        RegressionGate(pattern_confidence=0.3)


def test_a_models_failures_as_a_whole_are_judged_by_progress_not_by_the_floor() -> None:
    ids = [f"e{i}" for i in range(40)]
    base = [True] * 20 + [False] * 20
    gate = RegressionGate(pattern_fix_floor=0.5, pattern_min_size=1, pattern_confidence=0.95, progress_confidence=0.95)
    whole = {f"{FAILURES_PREFIX}abc": ids[20:], "p-named": ids[20:]}
    five_fixed = ev(flipped(base, wrong=[], right=[20, 21, 22, 23, 24]), ids)
    report = gate.evaluate(five_fixed, baseline=ev(base, ids), patterns=whole)
    progress = check(report, f"pattern_fix_rate:{FAILURES_PREFIX}abc")
    # A quarter of the failures fixed, none broken: surely progress (p = 1/32), where a named pattern needs half.
    assert progress.passed and progress.observed == 0.25 and "p = 0.031" in progress.detail
    assert not check(report, "pattern_fix_rate:p-named").passed
    # Four fixes against none, or eight against two, could be chance at 95%: not yet progress.
    for right, wrong in (([20, 21, 22, 23], []), ([*range(20, 28)], [0, 1])):
        report = gate.evaluate(ev(flipped(base, wrong=wrong, right=right), ids), baseline=ev(base, ids), patterns=whole)
        assert not check(report, f"pattern_fix_rate:{FAILURES_PREFIX}abc").passed
    # The rejection quotes the sign test: a fix share above the floor must not read "0.875 < 0.5".
    failed = gate.evaluate(ev(flipped(base, wrong=[0, 1, 2], right=[*range(20, 27)]), ids), baseline=ev(base, ids),
                           patterns={f"{FAILURES_PREFIX}abc": ids[20:28]})
    reason = rejection_event("m", version="v2", production_version="v1", report=failed, request_id="rr-1",
                             timestamp=0.0).reason
    assert f"pattern_fix_rate:{FAILURES_PREFIX}abc: 7 of 8 held-out failures" in reason and "sign test" in reason


def test_by_default_progress_is_more_fixed_than_broken_whatever_the_pattern_confidence() -> None:
    ids = [f"e{i}" for i in range(40)]
    base = [True] * 20 + [False] * 20
    whole = {f"{FAILURES_PREFIX}abc": ids[20:]}
    name = f"pattern_fix_rate:{FAILURES_PREFIX}abc"
    for gate in (RegressionGate(pattern_min_size=1, epsilon=5), RegressionGate(pattern_min_size=1, epsilon=5,
                                                                               pattern_confidence=0.95)):
        # 3 fixed, 1 broken: not significant (p = 0.31) but more likely better than worse, and the flips are bounded
        step = gate.evaluate(ev(flipped(base, wrong=[0], right=[20, 21, 22]), ids), baseline=ev(base, ids),
                             patterns=whole)
        assert check(step, name).passed and "p = 0.312" in check(step, name).detail
        for right, wrong in (([20, 21], [0, 1]), ([], [])):  # as many broken as fixed, or nothing changed
            same = gate.evaluate(ev(flipped(base, wrong=wrong, right=right), ids), baseline=ev(base, ids),
                                 patterns=whole)
            assert not check(same, name).passed


def test_progress_confidence_must_be_a_confidence() -> None:
    for bad in (0.5, 1.0, 0.3):
        with pytest.raises(ConfigError, match="progress_confidence"):
            RegressionGate(progress_confidence=bad)


def test_a_first_model_is_held_to_the_floor_even_for_failures_as_a_whole() -> None:
    report = RegressionGate(pattern_min_size=1).evaluate(
        ev(flipped(BASE, wrong=[], right=[15])), patterns={f"{FAILURES_PREFIX}abc": IDS[15:20]})
    assert not check(report, f"pattern_fix_rate:{FAILURES_PREFIX}abc").passed


def test_small_patterns_are_judged_pooled() -> None:
    patterns = {"big": IDS[15:20], "s1": ["e0"], "s2": ["e1", "e2"]}
    candidate = ev(flipped(BASE, wrong=[0], right=[15, 16, 17]))
    report = RegressionGate(epsilon=5, pattern_min_size=5).evaluate(candidate, baseline=ev(BASE), patterns=patterns)
    names = [c.name for c in report.checks if c.name.startswith("pattern_fix_rate")]
    assert names == ["pattern_fix_rate:big", "pattern_fix_rate:pooled(2 patterns)"]
    assert check(report, "pattern_fix_rate:big").observed == 0.6
    assert check(report, "pattern_fix_rate:pooled(2 patterns)").observed == pytest.approx(2 / 3)


def test_first_model_gets_only_absolute_checks_and_says_so() -> None:
    report = RegressionGate(metric_floor=0.7).evaluate(ev(BASE))
    assert [c.name for c in report.checks] == ["metric_floor"]
    assert report.passed and report.baseline_version is None
    assert NO_BASELINE_NOTE in report.notes
    assert not RegressionGate(metric_floor=0.8).evaluate(ev(BASE)).passed


def test_no_thresholds_refuses_and_no_applicable_threshold_fails_closed() -> None:
    with pytest.raises(ConfigError, match="no threshold"):
        RegressionGate(
            epsilon=None,
            cross_checkpoint_epsilon=None,
            slice_max_drop=None,
            metric_min_delta=None,
            pattern_fix_floor=None,
            metric_floor=None,
        )
    only_flips = RegressionGate(
        cross_checkpoint_epsilon=None,
        slice_max_drop=None,
        metric_min_delta=None,
        pattern_fix_floor=None,
        metric_floor=None,
    )
    report = only_flips.evaluate(ev(BASE))  # a first model: the flip check cannot apply
    assert not report.passed and report.checks == []
    assert any("fail closed" in note for note in report.notes)


@pytest.mark.parametrize(
    "bad", [{"epsilon": -1}, {"slice_max_drop": 1.5}, {"metric_floor": -0.1}, {"slice_min_size": 0}]
)
def test_invalid_thresholds_fail_at_construction(bad: dict) -> None:
    with pytest.raises(ConfigError):
        RegressionGate(**bad)


def test_the_report_is_a_valid_event_payload() -> None:
    report = RegressionGate().evaluate(ev(flipped(BASE, wrong=[0, 1, 2])), baseline=ev(BASE), baseline_version="v1")
    event = ReleaseRejection(
        event_id="rej-1",
        timestamp=1.0,
        model=ModelRef(name="m", version="v2"),
        production_version="v1",
        gate_report=report,
        reason="flips",
    )
    codec = EventCodec()
    decoded = codec.decode(codec.encode(event), ReleaseRejection)
    assert decoded == event and not decoded.gate_report.passed
    assert check(decoded.gate_report, "negative_flips").observed == 3


def test_gate_is_immutable_and_clones() -> None:
    gate = RegressionGate()
    assert gate.clone(epsilon=0).epsilon == 0 and gate.epsilon == 2
    with pytest.raises(AttributeError):
        gate.epsilon = 5  # type: ignore[misc]
