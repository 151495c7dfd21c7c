"""``pioneer train``: a first model from a JSONL file, registered and pointed at by production."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pioneer.cli import cli
from pioneer.gates import NO_BASELINE_NOTE
from pioneer.registry import FileRegistry
from tests.unit.retrain.scenario import banking

pytestmark = pytest.mark.slow


@pytest.fixture
def data(tmp_path: Path) -> Path:
    scenario = banking(n_train=8)
    path = tmp_path / "bank.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": e.id, "text": e.text, "label": e.label}) + "\n"
            for e in scenario.base_train + scenario.base_gate
        )
    )
    return path


def test_train_registers_a_first_version_and_points_production_at_it(data: Path, tmp_path: Path, pioneer_cache) -> None:
    root = tmp_path / "registry"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--task",
            "classification",
            "--data",
            str(data),
            "--registry",
            str(root),
            "--set",
            "head_c=5",
            "--output",
            "json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["outcome"] == "released" and record["model"] == "bank"
    registry = FileRegistry(root)
    assert registry.get_alias("bank", "production") == record["version"]
    manifest = registry.get_manifest("bank", record["version"])
    assert manifest.recipe["config"]["head_c"] == 5 and manifest.parent is None
    assert NO_BASELINE_NOTE in manifest.gate_report.notes
    gate = registry.get_dataset("bank", manifest.eval_sets["gate"])
    trained = registry.get_dataset("bank", manifest.training_data)
    assert gate and not {e.id for e in gate} & {e.id for e in trained}

    again = CliRunner().invoke(
        cli,
        ["train", "--task", "classification", "--data", str(data), "--registry", str(root), "--set", "head_c=5"],
        catch_exceptions=False,
    )
    assert again.exit_code == 0 and record["version"] in again.stdout  # same data: the stored decision, no retrain
    assert len(registry.alias_history("bank")) == 1


def test_a_model_below_the_floor_is_rejected_with_a_non_zero_exit(data: Path, tmp_path: Path, pioneer_cache) -> None:
    root = tmp_path / "registry"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--task",
            "classification",
            "--data",
            str(data),
            "--registry",
            str(root),
            "--metric-floor",
            "1.0",
            "--limit",
            "12",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 1 and "REJECTED" in result.stdout and "metric_floor" in result.stdout
    assert FileRegistry(root).get_alias("bank", "production") is None


def test_unknown_config_fields_are_named() -> None:
    result = CliRunner().invoke(cli, ["train", "--task", "classification", "--data", "x.jsonl", "--set", "nope=1"])
    assert result.exit_code == 2 and "nope" in result.output
