"""AdaptFTRunner construction: what must hold before any training starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from pioneer.bench import AdaptFTRunner
from pioneer.bench.runner import nearest_miss
from pioneer.bench.scenarios import SCENARIOS
from pioneer.retrain import Retrainer


def test_a_relative_workdir_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Registries record artifact locations as file URIs, which a relative path cannot express.
    monkeypatch.chdir(tmp_path)
    runner = AdaptFTRunner(datasets=Path("datasets"), workdir=Path("bench-results/work"), quick=True)
    assert runner.workdir.is_absolute() and runner.workdir == tmp_path / "bench-results" / "work"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_blend_setting_is_one_the_retrainer_accepts(name: str) -> None:
    for quick in (True, False):
        weights = SCENARIOS[name].blends(quick)
        retrainer = Retrainer() if weights is None else Retrainer(blend_weights=weights)
        assert retrainer.blend_weights == (weights or Retrainer().blend_weights)

def _candidate(name: str, failed: list[str] | None, flips: float | None = None) -> dict:
    gate = None if failed is None else {"passed": not failed, "failed": failed, "negative_flips": flips}
    return {"recipe": {"name": name}, "gate": gate}


def test_nearest_miss_prefers_fewer_failed_checks_then_fewer_flips() -> None:
    tried = [
        _candidate("it0-a", ["negative_flips", "cross_checkpoint_flips:v1"], 8.0),
        _candidate("it0-a@0.45", ["negative_flips"], 3.0),
        _candidate("it0-a@0.15", ["pattern_fix_rate:all"], 1.0),
        _candidate("it1-a", None),  # never gated
    ]
    assert nearest_miss(tried) == "it0-a@0.15: 1 gate flip, failed pattern_fix_rate:all"
    assert nearest_miss(tried[:2]) == "it0-a@0.45: 3 gate flips, failed negative_flips"


def test_nearest_miss_is_empty_when_nothing_failed_the_gate() -> None:
    assert nearest_miss([]) == ""
    assert nearest_miss([_candidate("it0-a", None), _candidate("it0-b", [], 0.0)]) == ""
    only_metric = [_candidate("it0-a", ["metric_not_below_baseline"])]
    assert nearest_miss(only_metric) == "it0-a: failed metric_not_below_baseline"
