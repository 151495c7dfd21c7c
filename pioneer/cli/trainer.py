"""``pioneer trainer``: run a trainer worker."""

from __future__ import annotations

from pathlib import Path

import click

from pioneer.cli.judge import build_checker, checker_options
from pioneer.cli.options import BROKER, config_default


def _default(name: str):
    """A flag's default: ``PIONEER_TRAINER_<NAME>`` if set, else the config's default."""
    from streams.trainer.config import TrainerConfig

    return config_default("PIONEER_TRAINER_", TrainerConfig, name)


@click.command()
@BROKER
@click.option("--group", "group_id", default=_default("group_id"), show_default="pioneer-trainer",
              help="Consumer group shared by the trainer's workers. [env: PIONEER_TRAINER_GROUP_ID]")
@click.option("--catch-up-timeout", type=float, default=60.0, show_default=True,
              help="Seconds to wait for the trace store to reach a request's time before training.")
@click.option("--epsilon", type=click.IntRange(0), default=_default("epsilon"), show_default="2",
              help="Negative flips a release may make on the gate set (and on each earlier checkpoint's set): examples"
              " production gets right that the candidate gets wrong. [env: PIONEER_TRAINER_EPSILON]")
@click.option("--pattern-fix-floor", type=click.FloatRange(0.0, 1.0), default=_default("pattern_fix_floor"),
              show_default="0.5", help="Share of each target pattern's held-out failures a release must get right (an"
              " entity failure is fixed only when the whole sentence is). The failures outside any emerging pattern"
              " are judged by progress instead (see --progress-confidence)."
              " [env: PIONEER_TRAINER_PATTERN_FIX_FLOOR]")
@click.option("--pattern-confidence", type=click.FloatRange(0.5, 1.0, min_open=True, max_open=True),
              default=_default("pattern_confidence"), show_default="0.95",
              help="Fail a pattern's fix rate only when its upper Wilson bound at this confidence is below the floor:"
              " a few held-out failures left unfixed are no evidence that a candidate fails its pattern."
              " [env: PIONEER_TRAINER_PATTERN_CONFIDENCE]")
@click.option("--progress-confidence", type=click.FloatRange(0.5, 1.0, min_open=True, max_open=True),
              default=_default("progress_confidence"), show_default="0.95",
              help="A broad retrain (the failures outside any emerging pattern) must fix surely more than it breaks,"
              " by a one-sided sign test at this confidence; when no candidate of the search does, the last"
              " iteration's candidates that failed nothing else are judged by their counts (more fixed than"
              " broken). The flip checks bound what a step may break either way."
              " [env: PIONEER_TRAINER_PROGRESS_CONFIDENCE]")
@click.option("--coverage-below", type=click.FloatRange(0.0, 1.0), default=_default("coverage_below"),
              show_default="from the labels", help="Production score below which fixable failures outside the target"
              " patterns are trained on too (0: never). Unset: every fixable failure when the labels are trusted"
              " (human), else below 0.8 (the reference system's data-problem band). [env: PIONEER_TRAINER_COVERAGE_BELOW]")
@click.option("--band-score", type=click.Choice(["auto", "gate", "live"]), default=_default("band_score"),
              show_default="auto", help="Production's score that picks the band (data / optimisation / surgical): its"
              " gate-set score, its accuracy on its labelled traffic (live), or auto: live when the labels are"
              " trusted (the gate set holds back passing traffic, so its score runs high). [env: PIONEER_TRAINER_BAND_SCORE]")
@click.option("--max-passes", type=click.IntRange(1), default=_default("max_passes"), show_default="by task kind",
              help="Most recent passing traces a retrain uses for replay, hard negatives and the gate set (20,000 for"
              " a classifier, 2,000 for a tagger or generator)."
              " [env: PIONEER_TRAINER_MAX_PASSES]")
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus metrics on this port.")
@checker_options("A programmatic checker of the task's answers: the diagnosis rejects corrections it fails (poisoned"
                 " labels) and passing traffic whose confirmed answer it fails.")
def trainer(
    broker: str,
    group_id: str,
    catch_up_timeout: float,
    epsilon: int,
    pattern_fix_floor: float,
    pattern_confidence: float | None,
    progress_confidence: float | None,
    coverage_below: float | None,
    band_score: str,
    max_passes: int | None,
    metrics_port: int | None,
    checker: str | None,
    reference: Path | None,
    pattern: str | None,
    schema: Path | None,
) -> None:
    """Serve retrain requests: diagnose, retrain, gate, release.

    Keeps the labeled-trace store ($PIONEER_HOME/traces.sqlite) current from the labeled-trace topic, and for
    each retrain request diagnoses the named patterns, builds a curriculum, trains candidates from the base
    model, gates the best against production (negative flips, cross-checkpoint, slices, patterns) and
    publishes a release or a rejection. Offsets are committed only after that event is published; a
    replayed request re-publishes the same decision without training again.
    """
    from streams.app import run_worker
    from streams.kafka import KafkaSettings
    from streams.trainer.config import TrainerConfig
    from streams.trainer.worker import build_trainer

    config = TrainerConfig(group_id=group_id, catch_up_timeout=catch_up_timeout, epsilon=epsilon,
                           pattern_fix_floor=pattern_fix_floor, pattern_confidence=pattern_confidence,
                           progress_confidence=progress_confidence, coverage_below=coverage_below, band_score=band_score, max_passes=max_passes, metrics_port=metrics_port)
    answers = None if checker is None else build_checker(checker, reference, pattern, schema)
    worker = build_trainer(KafkaSettings.from_env(broker), config, checker=answers)
    click.echo(f"trainer '{group_id}' starting against {broker} (registry {worker.registry})", err=True)
    run_worker(worker.app)
