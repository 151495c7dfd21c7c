"""How label trust decides production's band and coverage, on constructed evidence and on a real trace store."""

from __future__ import annotations

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
