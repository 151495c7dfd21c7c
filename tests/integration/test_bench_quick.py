"""AdaptFT-Bench in quick mode, end to end through the CLI: real training, real held-out measurement.

The whole quick bench (seven scenarios) takes minutes; the suite runs the scenarios named by
``PIONEER_BENCH_SCENARIOS`` (default: the generated banking task, which needs no data, and CLINC150 with
clustered flips when the shared datasets are present). Set ``PIONEER_BENCH_SCENARIOS=all`` to run all seven.

What is asserted is the benchmark's claim, measured, not recorded: on the same logs Pioneer ends at or above
the base model, at or above naive retraining (every scenario carries poison), trains on far less poison than
naive retraining does, flags poison with high precision, and does not reject everything when the logs hold
gains that naive retraining finds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pioneer.cli import cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
TOLERANCE = 0.01
"""Held-out metric slack for Pioneer against the base model and against naive (one example in a hundred)."""
MIN_PRECISION = 0.8
"""Pooled diagnosis precision floor: of the failures Pioneer refuses to train on, this share must be poison."""
NAIVE_GAIN = 0.05
"""When naive retraining ever gains this much over the base model, Pioneer must have released at least once."""


def _scenarios() -> str:
    chosen = os.environ.get("PIONEER_BENCH_SCENARIOS")
    if chosen:
        return chosen
    return "banking,clinc150-clustered" if (DATASETS / "clinc150").is_dir() else "banking"


def _chain(scenario: dict[str, Any], method: str) -> list[dict[str, Any]]:
    return sorted((c for c in scenario["checkpoints"] if c["method"] == method), key=lambda c: c["stage"])


def _poison_share(checkpoint: dict[str, Any]) -> float:
    trained = checkpoint["trained"] or {}
    total = sum(trained.values())
    return trained.get("poison", 0) / total if total else 0.0


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """One quick run shared by every test of the module (a private PIONEER_HOME, the shared model cache)."""
    from pioneer.settings import Paths

    out = tmp_path_factory.mktemp("adaptft")
    home = tmp_path_factory.mktemp("pioneer-home")
    cache = Paths.from_env().cache
    cache.mkdir(parents=True, exist_ok=True)
    (home / "cache").symlink_to(cache, target_is_directory=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIONEER_HOME", str(home))
        result = CliRunner().invoke(
            cli, ["bench", "adaptft", "--quick", "--scenarios", _scenarios(), "--out", str(out),
                  "--datasets", str(DATASETS)],
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
        yield out, json.loads((out / "adaptft-results.json").read_text())


def test_report_and_raw_results_are_written(bench: tuple[Path, dict[str, Any]]) -> None:
    out, raw = bench
    report = (out / "adaptft-report.md").read_text()
    assert "## Results" in report and "metric-per-stage.png" in report
    assert (out / "metric-per-stage.png").stat().st_size > 1000
    assert raw["results"], "no scenario ran"
    for scenario in raw["results"]:
        assert scenario["error"] is None, scenario["error"]
        assert scenario["heldout"] > 0 and len(_chain(scenario, "pioneer")) == 4  # the base model and three stages
        assert all(0.0 <= c["metric"] <= 1.0 for c in scenario["checkpoints"])


def test_pioneer_never_ends_below_the_base_model(bench: tuple[Path, dict[str, Any]]) -> None:
    for scenario in bench[1]["results"]:
        chain = _chain(scenario, "pioneer")
        base = chain[0]["metric"]
        worst = min(c["metric"] for c in chain)
        assert worst >= base - TOLERANCE, f"{scenario['scenario']}: pioneer fell to {worst:.3f} from base {base:.3f}"


def test_pioneer_at_least_matches_naive_retraining_on_noisy_logs(bench: tuple[Path, dict[str, Any]]) -> None:
    for scenario in bench[1]["results"]:
        assert max(scenario["poison_rates"]) > 0, f"{scenario['scenario']} carries no poison"
        pioneer, naive = _chain(scenario, "pioneer")[-1], _chain(scenario, "naive")[-1]
        assert pioneer["metric"] >= naive["metric"] - TOLERANCE, (
            f"{scenario['scenario']}: pioneer {pioneer['metric']:.3f} < naive {naive['metric']:.3f}"
        )


def test_pioneer_releases_when_the_logs_hold_gains(bench: tuple[Path, dict[str, Any]]) -> None:
    """A Pioneer that rejects every candidate while naive retraining gains on the same logs is broken."""
    for scenario in bench[1]["results"]:
        naive = _chain(scenario, "naive")
        if max(c["metric"] for c in naive[1:]) - naive[0]["metric"] < NAIVE_GAIN:
            continue
        outcomes = [c["outcome"] for c in _chain(scenario, "pioneer")[1:]]
        assert "released" in outcomes, f"{scenario['scenario']}: naive gained, pioneer never released ({outcomes})"


def test_pioneer_trains_on_far_less_poison_than_naive(bench: tuple[Path, dict[str, Any]]) -> None:
    for scenario in bench[1]["results"]:
        pioneer, naive = _chain(scenario, "pioneer")[-1], _chain(scenario, "naive")[-1]
        if pioneer["outcome"] == "base" or not pioneer["trained"] or not sum(pioneer["trained"].values()):
            continue  # never released: it trained on nothing from the logs
        assert _poison_share(pioneer) <= 0.5 * _poison_share(naive), (
            f"{scenario['scenario']}: pioneer trained on {pioneer['trained']}, naive on {naive['trained']}"
        )


def test_diagnosis_flags_poison_precisely(bench: tuple[Path, dict[str, Any]]) -> None:
    for scenario in bench[1]["results"]:
        pooled = next((d for d in scenario["diagnosis"] if d["stage"] == "pooled"), None)
        assert pooled is not None, f"{scenario['scenario']}: no diagnosis was scored"
        if pooled["flagged"]:
            assert pooled["precision"] >= MIN_PRECISION, f"{scenario['scenario']}: {pooled}"
        if pooled["poison"] >= 10:  # enough poison among the diagnosed failures for recall to mean something
            assert pooled["recall"] >= 0.5, f"{scenario['scenario']}: {pooled}"


def test_the_flip_budget_flag_reaches_the_gate(tmp_path: Path) -> None:
    # ε = 0: any candidate that breaks one gate answer must be rejected; the report and the JSON say which ε ran.
    out = tmp_path / "eps0"
    result = CliRunner().invoke(
        cli, ["bench", "adaptft", "--quick", "--scenarios", "banking", "--logs-per-stage", "60", "--epsilon", "0",
              "--out", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    raw = json.loads((out / "adaptft-results.json").read_text())
    assert raw["epsilon"] == 0 and "--epsilon 0" in raw["command"]
    assert "(ε = 0; the reference: 2)" in (out / "adaptft-report.md").read_text()
    judged = [c for c in _chain(raw["results"][0], "pioneer") if c["gate_negative_flips"] is not None]
    assert judged, "no stage reached the gate"
    for checkpoint in judged:
        if checkpoint["gate_negative_flips"] > 0:
            assert checkpoint["outcome"] == "rejected", checkpoint
