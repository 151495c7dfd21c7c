"""``pioneer judge``: run a judge worker that labels a sample of unlabelled traffic."""

from __future__ import annotations

from pathlib import Path

import click

from pioneer.cli.options import BROKER, config_default, unknown_settings


def _default(name: str):
    """A flag's default: ``PIONEER_JUDGE_<NAME>`` if set, else the config's default."""
    from streams.judge.config import JudgeConfig

    return config_default("PIONEER_JUDGE_", JudgeConfig, name)


def build_checker(checker: str, reference: Path | None, pattern: str | None, schema: Path | None):
    """The programmatic checker the flags describe (numeric, regex or json-schema)."""
    import orjson

    from pioneer.judging import JsonSchemaChecker, NumericChecker, RegexChecker

    try:
        if checker == "numeric":
            if reference is None:
                raise click.UsageError("--checker numeric needs --reference (a JSON object: input text -> expected number)")
            return NumericChecker(reference=orjson.loads(reference.read_bytes()))
        if checker == "regex":
            if pattern is None:
                raise click.UsageError("--checker regex needs --pattern")
            return RegexChecker(pattern=pattern)
        if schema is None:
            raise click.UsageError("--checker json-schema needs --schema (a JSON schema file)")
        return JsonSchemaChecker(schema=orjson.loads(schema.read_bytes()))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise click.BadParameter(str(exc)) from exc


def build_model_judge(spec: str, registry: str | None, min_confidence: float):
    """A :class:`~pioneer.judging.ModelJudge` over ``NAME`` (its production version) or ``NAME@VERSION`` of the
    registry."""
    from pioneer.errors import PioneerError
    from pioneer.judging import ModelJudge
    from pioneer.registry import open_registry

    name, _, version = spec.partition("@")
    opened = open_registry(registry)
    try:
        version = version or opened.get_alias(name, "production") or ""
        if not version:
            raise click.BadParameter(f"model {name!r} has no production version; name one as {name}@VERSION")
        adapter = opened.load_adapter(name, version)
    except (PioneerError, ValueError, OSError) as exc:
        raise click.BadParameter(f"cannot load judge model {spec!r}: {exc}") from exc
    return ModelJudge(adapter, name=f"model:{name}@{version[:22]}", min_confidence=min_confidence).warm()


def build_judge(checker: str | None, reference: Path | None, pattern: str | None, schema: Path | None,
                endpoint: str | None, judge_model: str | None, api_key: str | None, timeout: float,
                local_model: str | None = None, registry: str | None = None, min_confidence: float = 0.0):
    """The judge the flags describe: one checker, an OpenAI-compatible endpoint, or a local registered model."""
    from pioneer.chat import ChatEndpoint
    from pioneer.judging import EndpointJudge

    if sum(x is not None for x in (checker, endpoint, local_model)) != 1:
        raise click.UsageError("give exactly one of --checker, --endpoint or --local-model")
    if checker is not None:
        return build_checker(checker, reference, pattern, schema)
    if local_model is not None:
        return build_model_judge(local_model, registry, min_confidence)
    if not judge_model:
        raise click.UsageError("--endpoint needs --judge-model (the judge model's name on that endpoint)")
    try:
        return EndpointJudge(ChatEndpoint(endpoint, judge_model, api_key=api_key, timeout=timeout))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def checker_options(what: str):
    """The --checker, --reference, --pattern and --schema options; ``what`` says what the checker is for."""
    def decorate(command):
        for option in reversed([
            click.option("--checker", type=click.Choice(["numeric", "regex", "json-schema"]), help=what),
            click.option("--reference", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="numeric: JSON object of input text -> expected number."),
            click.option("--pattern", help="regex: the pattern a right answer matches."),
            click.option("--schema", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="json-schema: the JSON schema file a right answer is valid against."),
        ]):
            command = option(command)
        return command
    return decorate


@click.command()
@BROKER
@checker_options("Judge with a programmatic checker.")
@click.option("--endpoint", help="Judge with a chat model behind an OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1.")
@click.option("--judge-model", help="The judge model's name on --endpoint.")
@click.option("--api-key", envvar="PIONEER_JUDGE_API_KEY", show_envvar=True, help="Bearer token for --endpoint.")
@click.option("--local-model", help="Judge with a model of the registry (NAME for its production version, or NAME@VERSION): a teacher of the same task whose own answer is the reference; it corrects what it fails.")
@click.option("--registry", "registry_dir", envvar="PIONEER_REGISTRY", show_envvar=True, default=None, help="Registry of --local-model (default: $PIONEER_HOME/registry).")
@click.option("--min-confidence", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True, help="--local-model abstains where its top score is below this.")
@click.option("--group", "group_id", default=_default("group_id"), show_default="pioneer-judge", help="Consumer group shared by the judge workers.")
@click.option("--rate", type=click.FloatRange(0, 1, min_open=True), default=_default("rate"), show_default="0.05", help="Share of traffic to judge, before the call budget (spread evenly over model x cluster/label strata).")
@click.option("--per-second", type=click.FloatRange(0, min_open=True), default=_default("per_second"), show_default="1", help="Judge calls per second at most.")
@click.option("--per-day", type=click.IntRange(0), default=_default("per_day"), show_default="10000", help="Judge calls per UTC day at most.")
@click.option("--burst", type=click.FloatRange(1), default=_default("burst"), show_default="max(1, per-second)", help="Judge calls granted at once after a quiet spell.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=_default("timeout"), show_default="30", help="Seconds a judge call may take before its log is skipped.")
@click.option("--concurrency", type=click.IntRange(1), default=_default("concurrency"), show_default="4", help="Judge calls in flight at once.")
@click.option("--drift-boost", type=click.FloatRange(1), default=_default("drift_boost"), show_default="4", help="Sampling-rate factor of a stratum whose unlabelled traffic drifted (novel, input or confidence shift); 1 turns the drift watch off. Drift never retrains.")
@click.option("--embed-inputs/--no-embed-inputs", default=_default("embed_inputs"), show_default="on", help="Embed the text of logs that carry no metadata.embedding (MiniLM, as the monitor does) so the drift watch sees input shifts.")
@click.option("--batch", type=click.IntRange(1), default=_default("batch"), show_default="500", help="Logs per consumed batch.")
@click.option("--metrics-port", type=int, default=_default("metrics_port"), show_default="off", help="Serve Prometheus metrics on this port.")
def judge(broker: str, checker: str | None, reference: Path | None, pattern: str | None, schema: Path | None,
          endpoint: str | None, judge_model: str | None, api_key: str | None, local_model: str | None,
          registry_dir: str | None, min_confidence: float, **options: object) -> None:
    """Label a sample of unlabelled traffic with a judge (source=judge labels).

    Samples inference logs evenly across models and their clusters (or predicted labels), within a hard
    budget of calls per second and per day, asks the judge and publishes its verdicts as labels. Human labels
    for the same request always win. A judge that fails or times out skips that log (dead-lettered with the
    reason) and the worker goes on. Stops cleanly on Ctrl-C.
    """
    from streams.judge.config import JudgeConfig
    from streams.judge.worker import run_judge
    from streams.kafka import KafkaSettings

    unknown = [name for name in unknown_settings("PIONEER_JUDGE_", JudgeConfig) if name != "PIONEER_JUDGE_API_KEY"]
    if unknown:
        click.echo(f"warning: ignoring {', '.join(unknown)}: not judge settings (see pioneer judge --help)", err=True)
    try:
        config = JudgeConfig(**{k: v for k, v in options.items() if v is not None})
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    chosen = build_judge(checker, reference, pattern, schema, endpoint, judge_model, api_key, config.timeout,
                         local_model, registry_dir, min_confidence)
    click.echo(f"judge '{config.group_id}' ({chosen.name}) starting against {broker}", err=True)
    run_judge(KafkaSettings.from_env(broker), config, chosen)
