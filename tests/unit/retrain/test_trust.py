"""How label trust decides production's band and coverage, on constructed evidence and on a real trace store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pioneer.events import Output
from pioneer.retrain.recipes import DATA_BAND_BELOW
from pioneer.retrain.trust import LabelTrust, choose_band, label_trust
from pioneer.traces import TraceStore, labeled_trace
from pioneer.training import Example


def _add(store: TraceStore, n: int, *, source: str, passing: int, start: int = 0, version: str = "v1") -> None:
    traces = []
    for i in range(start, start + n):
        predicted = "a" if i - start < passing else "b"
        example = Example(id=f"r{i}", text=f"text {i}", label="a")
        traces.append(labeled_trace(example, Output(label=predicted), model="m", version=version,
                                    task="classification", at=float(i), source=source))
    store.add(traces)


def test_human_labelled_traffic_is_read_live_and_trains_on_every_fixable_failure(tmp_path: Path) -> None:
    with TraceStore(tmp_path / "t.sqlite") as store:
        _add(store, 300, source="human", passing=240)
        trust = label_trust(store, "m", "v1")
        band = choose_band(trust, band_score="auto", coverage_below=None, min_live_traces=200)
    assert (trust.traces, trust.passes, trust.trusted) == (300, 240, 300)
    assert band.live == pytest.approx(0.8)
    assert band.coverage_below == 1.0
    assert "300 of 300 labels" in band.evidence and "live accuracy 0.800" in band.evidence


def test_judge_labelled_traffic_keeps_the_gate_set_and_the_data_band(tmp_path: Path) -> None:
    with TraceStore(tmp_path / "t.sqlite") as store:
        _add(store, 150, source="human", passing=150)
        _add(store, 150, source="judge", passing=50, start=150)
        _add(store, 500, source="human", passing=500, start=300, version="v0")  # another version's labels
        trust = label_trust(store, "m", "v1")
        band = choose_band(trust, band_score="auto", coverage_below=None, min_live_traces=200)
    assert (trust.traces, trust.trusted) == (300, 150)
    assert band.live is None
    assert band.coverage_below == DATA_BAND_BELOW


@pytest.mark.parametrize(("trusted", "expected"), [(400, True), (395, True), (360, False), (0, False)])
def test_trust_needs_a_sure_majority_of_human_labels(trusted: int, expected: bool) -> None:
    assert LabelTrust(traces=400, passes=400, trusted=trusted).trusted_enough is expected


def test_too_little_traffic_to_read_live_falls_back_to_the_gate_set() -> None:
    band = choose_band(LabelTrust(traces=100, passes=50, trusted=100), band_score="auto", coverage_below=None,
                       min_live_traces=200)
    assert band.live is None and band.coverage_below == 1.0


def test_explicit_settings_win_over_the_evidence() -> None:
    trusted = LabelTrust(traces=400, passes=300, trusted=400)
    gate = choose_band(trusted, band_score="gate", coverage_below=0.5, min_live_traces=200)
    assert gate.live is None and gate.coverage_below == 0.5
    untrusted = LabelTrust(traces=400, passes=300, trusted=0)
    live = choose_band(untrusted, band_score="live", coverage_below=None, min_live_traces=200)
    assert live.live == pytest.approx(0.75) and live.coverage_below == DATA_BAND_BELOW


def _pairs(store: TraceStore, n: int, *, agree: int, start: int, version: str = "v0") -> None:
    """``n`` requests labelled by a person and by the judge; the judge gives the person's outcome on ``agree``."""
    traces = []
    for i in range(start, start + n):
        example = Example(id=f"r{i}", text=f"text {i}", label="a")
        human = labeled_trace(example, Output(label="a"), model="m", version=version, task="classification",
                              at=float(i), source="human")
        judge_says = "a" if i - start < agree else "b"  # expected "b": the judge calls the answer a failure
        judged = labeled_trace(dataclasses.replace(example, label=judge_says), Output(label="a"), model="m",
                               version=version, task="classification", at=float(i) + 0.5, source="judge")
        traces += [human, dataclasses.replace(judged, event_id=f"judge-{i}")]
    store.add(traces)


def test_the_store_counts_agreement_on_requests_both_labelled(tmp_path: Path) -> None:
    with TraceStore(tmp_path / "t.sqlite") as store:
        _pairs(store, 40, agree=30, start=0)
        _add(store, 20, source="judge", passing=10, start=100)  # judged only: no pair
        assert store.agreement(model="m") == (30, 40)
        assert store.agreement(model="other") == (0, 0)


@pytest.mark.parametrize(("agree", "pairs", "expected"), [(400, 400, True), (97, 100, True), (85, 100, False),
                                                           (3, 3, False), (0, 0, False)])
def test_judge_labels_are_trusted_as_far_as_their_agreement_s_lower_bound(agree: int, pairs: int,
                                                                          expected: bool) -> None:
    # 100 human labels and 300 judge labels: trusted only when the judge surely (lower bound >~0.92) agrees with people.
    trust = LabelTrust(traces=400, passes=300, trusted=100, judged=300, agreed=agree, pairs=pairs)
    assert trust.trusted_enough is expected
    assert trust.judge_weight <= (agree / pairs if pairs else 0.0)
    assert trust.effective_trusted == pytest.approx(100 + 300 * trust.judge_weight)


def test_more_agreement_evidence_means_more_weight_at_the_same_rate() -> None:
    weights = [LabelTrust(traces=1, passes=1, trusted=0, agreed=9 * k, pairs=10 * k).judge_weight for k in (1, 10, 100)]
    assert weights == sorted(weights) and weights[-1] < 0.9 and weights[0] < 0.7


def test_a_judge_that_agrees_with_people_lets_its_labels_decide_the_band(tmp_path: Path) -> None:
    with TraceStore(tmp_path / "t.sqlite") as store:
        _pairs(store, 2000, agree=2000, start=0)  # evidence on an earlier version
        _add(store, 20, source="human", passing=20, start=10_000, version="v1")
        _add(store, 280, source="judge", passing=200, start=10_020, version="v1")
        trust = label_trust(store, "m", "v1")
        band = choose_band(trust, band_score="auto", coverage_below=None, min_live_traces=200)
    assert (trust.trusted, trust.judged, trust.agreed, trust.pairs) == (20, 280, 2000, 2000)
    assert trust.trusted_enough and band.live == pytest.approx(220 / 300)
    assert "judge labels at weight" in band.evidence


def test_a_judge_that_disagrees_with_people_is_not_trusted(tmp_path: Path) -> None:
    with TraceStore(tmp_path / "t.sqlite") as store:
        _pairs(store, 2000, agree=1500, start=0)
        _add(store, 20, source="human", passing=20, start=10_000, version="v1")
        _add(store, 280, source="judge", passing=200, start=10_020, version="v1")
        trust = label_trust(store, "m", "v1")
    assert 0.7 < trust.judge_weight < 0.75 and not trust.trusted_enough
