"""The trainer worker's settings reach the gate that judges its candidates."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pioneer.cli import cli
from streams.kafka import KafkaSettings
from streams.trainer.config import TrainerConfig
from streams.trainer.worker import RetrainHandler, build_trainer


@pytest.mark.parametrize("epsilon", [2, 5])
def test_the_default_handler_gates_with_the_configured_epsilon(epsilon: int, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIONEER_HOME", str(tmp_path))
    trainer = build_trainer(KafkaSettings.from_env("localhost:1"), TrainerConfig(epsilon=epsilon))
    assert isinstance(trainer.handler, RetrainHandler)  # handle_request with this retrainer
    gate = trainer.handler.retrainer.gate
    assert (gate.epsilon, gate.cross_checkpoint_epsilon) == (epsilon, epsilon)


def test_the_default_handler_gates_with_the_configured_pattern_fix_floor(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIONEER_HOME", str(tmp_path))
    config = TrainerConfig(pattern_fix_floor=0.25, pattern_confidence=0.95, progress_confidence=0.9)
    gate = build_trainer(KafkaSettings.from_env("localhost:1"), config).handler.retrainer.gate
    assert (gate.pattern_fix_floor, gate.pattern_confidence, gate.progress_confidence) == (0.25, 0.95, 0.9)
    default = build_trainer(KafkaSettings.from_env("localhost:1"), TrainerConfig()).handler.retrainer.gate
    assert default.progress_confidence == 0.95  # surely more fixed than broken first, the counts at the end


def test_the_default_handler_gathers_coverage_and_passes_as_configured(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIONEER_HOME", str(tmp_path))
    default = build_trainer(KafkaSettings.from_env("localhost:1"), TrainerConfig()).handler.retrainer
    assert (default.coverage_below, default.band_score) == (None, "auto")  # decided per request from the labels
    config = TrainerConfig(coverage_below=0.95, max_passes=20000, band_score="live")
    retrainer = build_trainer(KafkaSettings.from_env("localhost:1"), config).handler.retrainer
    assert (retrainer.coverage_below, retrainer.max_passes, retrainer.band_score) == (0.95, 20000, "live")


def test_the_cli_offers_the_gate_settings_and_names_their_variables() -> None:
    result = CliRunner().invoke(cli, ["trainer", "--help"])
    assert result.exit_code == 0
    for option, variable in (("--epsilon", "PIONEER_TRAINER_EPSILON"),
                             ("--pattern-fix-floor", "PIONEER_TRAINER_PATTERN_FIX_FLOOR"),
                             ("--pattern-confidence", "PIONEER_TRAINER_PATTERN_CONFIDENCE"),
                             ("--coverage-below", "PIONEER_TRAINER_COVERAGE_BELOW"),
                             ("--max-passes", "PIONEER_TRAINER_MAX_PASSES"),
                             ("--band-score", "PIONEER_TRAINER_BAND_SCORE")):
        assert option in result.output and variable in result.output


def test_a_checker_given_to_the_cli_reaches_the_diagnosis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pioneer.cli.judge import build_checker
    from pioneer.judging import RegexChecker

    monkeypatch.setenv("PIONEER_HOME", str(tmp_path))
    checker = build_checker("regex", None, r"^\d+ [+-] \d+ = \d+$", None)
    retrainer = build_trainer(KafkaSettings.from_env("localhost:1"), TrainerConfig(), checker=checker).handler.retrainer
    assert isinstance(retrainer.diagnoser.checker, RegexChecker)
    assert build_trainer(KafkaSettings.from_env("localhost:1"), TrainerConfig()).handler.retrainer.diagnoser.checker is None
    result = CliRunner().invoke(cli, ["trainer", "--checker", "regex"])
    assert result.exit_code != 0 and "--checker regex needs --pattern" in result.output
