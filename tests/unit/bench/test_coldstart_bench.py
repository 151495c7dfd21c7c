"""The cold-start bench's entity cell on a tiny slice of Restaurant-8k: every comparison is computed on real data."""

from __future__ import annotations

from pathlib import Path

import pytest

from pioneer.bench.coldstart import entity_task, run_cell

DATASETS = Path(__file__).resolve().parents[4] / "shared" / "datasets"


@pytest.mark.skipif(not (DATASETS / "restaurant8k").is_dir(), reason="shared/datasets/restaurant8k is not there")
def test_entity_cell_reports_base_plain_fit_cold_start_and_ceiling(tmp_path, pioneer_home) -> None:
    task = entity_task(DATASETS, "restaurant8k", examples=4, pool=16, test=12)
    assert len(task.train) == 20 and len(task.test) == 12 and len(task.unlabeled) == 16
    assert set(task.gold) == {e.text for e in task.train}

    # About the cell's comparisons, not training length: 500 sentences' steps on 20 would take 25× as long.
    row = run_cell(task, error_rate=0.2, budget_minutes=0.0, workdir=tmp_path, settings={"calibrated_examples": None})
    assert (row["kind"], row["metric"], row["teacher"], row["base"]) == (
        "entity_extraction", "entity_f1", "simulated-20%", "user examples only")
    for key in ("base_score", "plain_fit", "ceiling"):
        assert 0.0 <= row[key] <= 1.0
    assert row["attempts"] == 1 and row["stop"] == "budget"
    assert (tmp_path / "run" / "report.md").exists()
