"""``pioneer train``: train a first model from data, gate it (no baseline), register it, point production at it."""

from __future__ import annotations

import dataclasses
import sys
import typing
from typing import Any

import click
import orjson

from pioneer.cli.options import BROKER, OUTPUT
from pioneer.cli.registry import REGISTRY, open_registry

TASK_CHOICES = ("classification", "entity_extraction", "generation")


def _coerce(value: str, current: Any, hint: Any) -> Any:
    """Read a ``--set`` value as the type of the field it sets."""
    if value.lower() in ("none", "null"):
        return None
    args = typing.get_args(hint) if hint is not None else ()
    if isinstance(current, tuple) or any(typing.get_origin(a) is tuple for a in args):
        return tuple(v for v in value.split(",") if v)
    kinds = [type(current)] if current is not None else [a for a in args if a in (bool, int, float, str)]
    kind = kinds[0] if kinds else str
    if kind is bool:
        return value.lower() in ("1", "true", "yes", "on")
    if kind in (int, float):
        return kind(value)
    return value


def build_config(task: str, overrides: tuple[str, ...]) -> Any:
    """The task's default config with ``field=value`` overrides (unknown fields are an error naming the field)."""
    from pioneer.training import adapter_for

    config = adapter_for(task).config
    fields = {f.name: f for f in dataclasses.fields(config)}
    hints = typing.get_type_hints(type(config))
    changes: dict[str, Any] = {}
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            raise click.BadParameter(
                f"{item!r}: expected FIELD=VALUE with FIELD one of {', '.join(sorted(fields))}", param_hint="--set"
            )
        changes[name] = _coerce(value, getattr(config, name), hints.get(name))
    return dataclasses.replace(config, **changes)


def split_holdout(examples: list, holdout: float) -> tuple[list, list, list]:
    """(train, validation, gate): ``holdout`` of the examples, by a stable hash of their ids, half to each eval set."""
    from pioneer.retrain import stable_order

    by_id = {e.id: e for e in examples}
    ordered = stable_order(by_id, salt="holdout:")
    n_eval = round(len(ordered) * holdout)
    gate, validation, train = ordered[: n_eval // 2], ordered[n_eval // 2 : n_eval], ordered[n_eval:]
    return [by_id[i] for i in train], [by_id[i] for i in validation], [by_id[i] for i in gate]


def default_model_name(data: str) -> str:
    import re
    from pathlib import Path

    stem = Path(data.rstrip("/")).stem or "model"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._") or "model"
    return name[:128]


@click.command()
@click.option("--task", type=click.Choice(TASK_CHOICES), required=True, help="What the model does.")
@click.option("--data", "data", required=True, help="Training data: a file, a folder (CLINC150) or a hub dataset name.")
@click.option("--model", "model", default=None, help="Model name in the registry (default: from the data's name).")
@click.option("--split", default=None, help="Split of --data to train on (CLINC150 or hub datasets; default train).")
@click.option("--eval", "eval_data", default=None, help="Gate set, never trained on (default: held out from --data).")
@click.option("--eval-split", default=None, help="Split of --eval (or of --data) to gate on, e.g. test.")
@click.option("--validation-split", default=None, help="Split of --eval (or --data) for validation, e.g. val.")
@click.option(
    "--holdout",
    type=click.FloatRange(0.0, 0.9),
    default=0.2,
    show_default=True,
    help="Share of --data held out (half validation, half gate) when no eval split is named.",
)
@click.option("--per-label", type=click.IntRange(1), default=None, help="Train on this many examples per label.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Train on this many examples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the subsample.")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Adapter config field, repeatable: --set strategy=finetune --set epochs=2.",
)
@click.option(
    "--metric-floor",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Lowest gate-set metric a first model may have (its only gate: there is no baseline).",
)
@click.option("--alias", default="production", show_default=True)
@click.option("--publish/--no-publish", default=False, show_default=True, help="Publish the model_release event.")
@REGISTRY
@BROKER
@OUTPUT
def train(
    task: str,
    data: str,
    model: str | None,
    split: str | None,
    eval_data: str | None,
    eval_split: str | None,
    validation_split: str | None,
    holdout: float,
    per_label: int | None,
    limit: int | None,
    seed: int,
    overrides: tuple[str, ...],
    metric_floor: float,
    alias: str,
    publish: bool,
    registry_dir: str | None,
    broker: str,
    output: str,
) -> None:
    """Train a first model from data, register it and point production at it.

    The first model has no baseline: the gate checks only the metric floor, and its report says so.
    Exits non-zero if the gate rejects the model.
    """
    from pioneer.data import load_dataset, subsample
    from pioneer.errors import PioneerError
    from pioneer.gates import RegressionGate
    from pioneer.retrain import TqdmSink, train_first_version

    config = build_config(task, overrides)
    examples = load_dataset(data, task=task, split=split)
    source = eval_data or data
    if eval_split or eval_data:
        gate_set = load_dataset(source, task=task, split=eval_split)
        validation = load_dataset(source, task=task, split=validation_split) if validation_split else []
        train_set = examples
        if not validation:  # hold out validation only: the gate set came from elsewhere
            train_set, validation, more = split_holdout(examples, holdout)
            validation += more
    else:
        train_set, validation, gate_set = split_holdout(examples, holdout)
    if per_label is not None or limit is not None:
        train_set = subsample(train_set, per_label=per_label, n=limit, seed=seed)
    name = model or default_model_name(data)
    try:
        decision = train_first_version(
            name,
            task,
            train_set,
            validation=validation,
            gate_set=gate_set,
            registry=open_registry(registry_dir),
            gate=RegressionGate(metric_floor=metric_floor),
            config=config,
            alias=alias,
            progress=TqdmSink(),
        )
    except PioneerError as exc:  # a configuration or data problem: say it in one line
        raise click.ClickException(str(exc)) from None
    if publish:
        from streams.publish import publish_events

        publish_events(decision.events, broker=broker)
    if output == "json":
        click.echo(orjson.dumps(decision.to_record("applied"), option=orjson.OPT_INDENT_2).decode())
    else:
        verb = "released" if decision.released else "REJECTED"
        click.echo(
            f"{verb} {name} {decision.version} ({len(train_set)} train, {len(validation)} validation, "
            f"{len(gate_set)} gate examples)"
        )
        click.echo("  " + ", ".join(f"{k}={v:.4g}" for k, v in decision.metrics.items()))
        for check in decision.gate_report.checks if decision.gate_report else []:
            click.echo(f"  {'ok  ' if check.passed else 'FAIL'} {check.name}: {check.detail}")
        for note in decision.gate_report.notes if decision.gate_report else []:
            click.echo(f"  note: {note}")
    if not decision.released:
        sys.exit(1)
