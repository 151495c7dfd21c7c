"""Per-release flips for the reports: the gate's counts from each release event beside held-out flips, each
release judged against the version it replaced."""

from __future__ import annotations

from pathlib import Path

from pioneer.events import AliasMove, GateCheck, GateReport, ModelRef, ModelRelease
from pioneer.training import Evaluation
from streams.demo.releases import flip_budget, flips_plot, flips_table, release_rows


def _release(parent: str, version: str, metrics: dict[str, float], epsilon: float = 5.0) -> ModelRelease:
    flips = GateCheck(name="negative_flips", passed=True, detail="", observed=metrics.get("negative_flips"),
                      threshold=epsilon)
    return ModelRelease(
        event_id=f"rel-{version}", timestamp=1.0, model=ModelRef(name="m", version=version), parent_version=parent,
        alias=AliasMove(name="production", from_version=parent, to_version=version), metrics=metrics,
        gate_report=GateReport(passed=True, baseline_version=parent, checks=[flips], notes=[]),
    )


def _scored(right: set[str]) -> Evaluation:
    ids = [f"t{i}" for i in range(6)]
    correct = [i in right for i in ids]
    return Evaluation(metric_name="accuracy", metric=sum(correct) / 6, ids=ids, correct=correct, predictions=[])


def test_each_release_counts_its_held_out_flips_against_the_version_it_replaced(tmp_path: Path) -> None:
    scored = {"v1": _scored({"t0", "t1", "t2"}), "v2": _scored({"t0", "t1", "t3", "t4"}),
              "v3": _scored({"t1", "t2", "t3", "t4", "t5"})}
    releases = [
        _release("v1", "v2", {"negative_flips": 0.0, "gate_examples": 300.0, "regression_negative_flips": 1.0,
                              "regression_examples": 812.0, "regression_flip_bound": 0.0058}),
        _release("v2", "v3", {"negative_flips": 2.0, "gate_examples": 310.0}),
    ]
    rows = release_rows(releases, "v1", scored)
    # v2 broke t2 (right under v1); v3 broke t0 (right under v2) although v1 got t0 right too: one flip each
    assert [r["test_negative_flips"] for r in rows] == [1, 1]
    assert rows[0]["regression_negative_flips"] == 1.0 and rows[1]["regression_negative_flips"] is None
    text = flips_table(rows, "accuracy")
    assert "1/812 (≤0.58%)" in text and "| r2 |" in text.replace("  ", " ")
    assert flip_budget(rows) == "ε = 5"  # the budget the gate ran with, read from the releases
    flips_plot(tmp_path / "flips.png", rows, "flips")
    assert (tmp_path / "flips.png").stat().st_size > 0
