"""The flip contract on R: a count and a Wilson bound on the rate; a small R allows no flip rather than none pass."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pioneer.errors import ConfigError
from pioneer.gates import FlipContract, RegressionGate
from pioneer.training import Evaluation
from pioneer.trigger.rates import wilson_lower, wilson_upper


@pytest.mark.parametrize(
    ("k", "n", "lower", "upper"),
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, Wilson score method
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_bounds_match_published_values(k: int, n: int, lower: float, upper: float) -> None:
    assert wilson_lower(k, n, 1.96) == pytest.approx(lower, abs=1e-4)
    assert wilson_upper(k, n, 1.96) == pytest.approx(upper, abs=1e-4)


def test_zero_flips_bound_is_z_squared_over_n_plus_z_squared() -> None:
    contract = FlipContract(max_rate=0.01, confidence=0.95)
    z2 = 1.959963984540054**2  # a retrain's first certification is read at 97.5%: it spends half of the 5%
    for n in (150, 381, 10_000):
        assert contract.bound(0, n) == pytest.approx(z2 / (n + z2))
    assert contract.min_size() == math.ceil(z2 * 0.99 / 0.01) == 381
    assert contract.judge(0, 380).small and not contract.judge(0, 381).small


def test_each_later_certification_is_stricter_and_all_of_them_keep_the_stated_confidence() -> None:
    contract = FlipContract(max_rate=0.01, confidence=0.95)
    levels = [contract.certifying(k).test_confidence() for k in range(1, 2_001)]
    assert levels == sorted(levels) and levels[0] == pytest.approx(0.975)
    assert sum(1 - c for c in levels) <= 0.05  # the chances of a lucky pass add up to at most 5%
    assert contract.judge(2, 1_000).passed and not contract.certifying(4).judge(2, 1_000).passed


def test_trying_many_bad_candidates_releases_one_at_most_as_often_as_the_confidence_allows() -> None:
    """Every candidate breaks 1.01% of what works, just above the promised 1%; a retrain certifies up to 12 of
    them on an R of 2,000 and releases the first that passes. A lucky release must happen in at most 5% of
    retrains; read at 95% each, it happens in about a fifth of them."""
    flips = np.random.default_rng(7).binomial(2_000, 0.0101, size=(2_000, 12))
    contract = FlipContract(epsilon=None, max_rate=0.01, confidence=0.95)

    def released(spend: bool) -> float:
        passes = [[(contract.certifying(k + 1) if spend else contract).judge(int(f), 2_000).passed for k, f in
                   enumerate(row)] for row in flips]
        return sum(any(row) for row in passes) / len(passes)

    assert released(spend=True) <= 0.05
    assert released(spend=False) > 0.15


def test_a_small_r_allows_no_flip_instead_of_rejecting_everything() -> None:
    contract = FlipContract(epsilon=2, max_rate=0.01)
    clean = contract.judge(0, 150)
    assert clean.passed and clean.small and clean.bound > 0.01  # passes although its bound is above 1%
    assert "no flip is allowed" in clean.detail()
    one = contract.judge(1, 150)
    assert one.count_ok and not one.passed


def test_the_allowed_flips_grow_with_r_up_to_the_count() -> None:
    contract = FlipContract(epsilon=2, max_rate=0.01)
    assert [contract.judge(0, n).allowed for n in (100, 300, 500, 700, 5_000)] == [0, 0, 0, 1, 2]
    by_rate = FlipContract(epsilon=None, max_rate=0.01)
    allowed = by_rate.judge(0, 10_000).allowed  # the rate alone: the last count whose bound stays within 1%
    assert by_rate.bound(allowed, 10_000) <= 0.01 < by_rate.bound(allowed + 1, 10_000)
    assert 50 < allowed < 100 and by_rate.judge(allowed, 10_000).passed and not by_rate.judge(allowed + 1, 10_000).passed


@pytest.mark.parametrize("kwargs", [{"epsilon": -1}, {"max_rate": 0.0}, {"max_rate": 1.0}, {"confidence": 0.4}])
def test_bad_contracts_are_refused(kwargs) -> None:
    with pytest.raises(ValueError):
        FlipContract(**kwargs)
    if "epsilon" not in kwargs:
        with pytest.raises(ConfigError):
            RegressionGate(regression_max_rate=kwargs.get("max_rate", 0.01), regression_confidence=kwargs.get("confidence", 0.95))


def _ev(ids: list[str], right: set[str]) -> Evaluation:
    correct = [i in right for i in ids]
    return Evaluation(metric_name="accuracy", metric=sum(correct) / len(ids), ids=ids, correct=correct, predictions=[])


def _gate(n_r: int, flips: int):
    """A candidate that keeps the whole gate set, and breaks ``flips`` of an R of ``n_r`` examples."""
    gate_ids = [f"g{i}" for i in range(40)]
    base_r = {f"r{i}": True for i in range(n_r)}
    cand_r = {i: k >= flips for k, i in enumerate(base_r)}
    gate = RegressionGate(epsilon=2, regression_max_rate=0.01)
    return gate.evaluate(
        _ev(gate_ids, set(gate_ids)), baseline=_ev(gate_ids, set(gate_ids)), baseline_version="v1",
        regression=(base_r, cand_r),
    )


def test_two_flips_on_an_r_of_150_pass_the_count_but_not_the_bound() -> None:
    report = _gate(150, 2)
    r_check = next(c for c in report.checks if c.name == "regression_set_flips")
    assert r_check.observed == 2.0 <= RegressionGate().epsilon  # within ε = 2 as a count
    assert not r_check.passed and not report.passed
    assert "rate 1.33%" in r_check.detail and "at most 4.73% of what works breaks" in r_check.detail
    assert "R is too small" in r_check.detail
    assert all(c.passed for c in report.checks if c.name != "regression_set_flips")  # only R's contract refused it


def test_the_same_two_flips_on_a_large_r_pass_and_the_report_says_how_much_may_break() -> None:
    report = _gate(2_000, 2)
    assert report.passed
    assert any("with 95% confidence, at most 0.36% of what works breaks" in note for note in report.notes)


def test_three_flips_on_a_large_r_fail_the_count_although_the_rate_bound_holds() -> None:
    report = _gate(10_000, 3)
    r_check = next(c for c in report.checks if c.name == "regression_set_flips")
    assert not r_check.passed and r_check.threshold == 2.0
    assert FlipContract(epsilon=None).judge(3, 10_000).passed


def test_without_a_rate_the_gate_judges_r_by_the_count_alone() -> None:
    gate_ids = ["g0"]
    report = RegressionGate(epsilon=2, regression_max_rate=None).evaluate(
        _ev(gate_ids, {"g0"}), baseline=_ev(gate_ids, {"g0"}),
        regression=({f"r{i}": True for i in range(150)}, {f"r{i}": i >= 2 for i in range(150)}),
    )
    assert report.passed
