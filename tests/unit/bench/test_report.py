"""The report: verdicts from the results, and every file it promises."""

from __future__ import annotations

import json
from pathlib import Path

from pioneer.bench import Checkpoint, ScenarioResult, write_report
from pioneer.bench.report import stage_rows, verdict


def _result(name: str, naive: list[float], pioneer: list[float], base: float = 0.8) -> ScenarioResult:
    r = ScenarioResult(scenario=name, task="classification", description="d", metric_name="accuracy", quick=True,
                       heldout=100, stage_counts=[{"clean": 10}] * 3, poison_rates=[0.15, 0.25, 0.4])
    for method, values in (("none", [base] * 3), ("naive", naive), ("pioneer", pioneer)):
        r.checkpoints.append(Checkpoint(method=method, stage=-1, version="v0", outcome="base", metric=base))
        for i, v in enumerate(values):
            r.checkpoints.append(Checkpoint(method=method, stage=i, version=f"v{i}", outcome="released", metric=v,
                                            negative_flips=i, trained={"clean": 5, "fixable": 2, "poison": i},
                                            gate_negative_flips=float(i + (5 if method == "naive" else 0)),
                                            regression_negative_flips=float(10 * i) if method == "pioneer" else None))
    r.diagnosis.append({"stage": "pooled", "diagnosed": 10, "flagged": 4, "poison": 5, "true_positive": 4,
                        "precision": 1.0, "recall": 0.8,
                        "per_kind": {"mislabel": {"diagnosed": 5, "flagged": 4, "share": 0.8}}, "verdicts": {}})
    r.recovery = [[{"pattern": "np:x", "failures": 4, "best_cluster": "c0", "precision": 0.6, "recall": 1.0,
                    "retrained": 1.0, "recovered": True}], [], []]
    return r


def test_verdicts() -> None:
    assert verdict(_result("a", [0.7, 0.6, 0.5], [0.85, 0.85, 0.86]))["pioneer"] == "improves"
    v = verdict(_result("b", [0.85, 0.86, 0.87], [0.8, 0.8, 0.8]))
    assert v["pioneer"] == "preserves" and v["beats_naive"] is False
    assert verdict(_result("c", [0.8] * 3, [0.8, 0.79, 0.79]))["pioneer"] == "degrades"


def test_write_report(tmp_path: Path) -> None:
    results = [_result("a", [0.7, 0.6, 0.5], [0.85, 0.85, 0.86]), _result("b", [0.85] * 3, [0.8] * 3)]
    report = write_report(results, tmp_path, command="pioneer bench adaptft --quick", wall_seconds=12.0,
                          machine="test", quick=True)
    text = report.read_text()
    assert "improves or preserves the held-out metric in 2/2 scenarios and beats naive retraining in 1/2" in text
    for name in ("metric-per-stage.png", "negative-flips.png", "diagnosis-per-kind.png"):
        assert (tmp_path / name).stat().st_size > 1000 and f"]({name})" in text
    raw = json.loads((tmp_path / "adaptft-results.json").read_text())
    assert raw["verdicts"]["a"]["pioneer"] == "improves" and len(raw["results"]) == 2
    assert "(ε = 2)" in text and raw["epsilon"] == 2


def test_the_report_states_a_flip_budget_other_than_the_reference(tmp_path: Path) -> None:
    results = [_result("a", [0.7, 0.6, 0.5], [0.85, 0.85, 0.86])]
    report = write_report(results, tmp_path / "eps5", command="pioneer bench adaptft --epsilon 5", wall_seconds=1.0,
                          machine="test", quick=True, epsilon=5)
    text = report.read_text()
    assert "(ε = 5; the reference: 2)" in text and "allows at most ε = 5" in text and "ε = 2)" not in text
    assert json.loads((tmp_path / "eps5" / "adaptft-results.json").read_text())["epsilon"] == 5


def test_stage_rows_show_both_methods_gate_flips() -> None:
    rows = stage_rows(_result("a", [0.7, 0.6, 0.5], [0.85, 0.85, 0.86]))
    # columns 7 and 8: naive's and Pioneer's flips on their gate sets; none for the base row
    assert [row[7:9] for row in rows] == [["-", "-"], [5, 0], [6, 1], [7, 2]]
    # column 9: Pioneer's flips on its regression set R, beside the gate set's
    assert [row[9] for row in rows] == ["-", 0, 10, 20]
