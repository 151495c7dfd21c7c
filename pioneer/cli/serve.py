"""``pioneer serve``: serve a registered model over HTTP, log every inference to Kafka, follow its releases.

Imports only click at import time (``pioneer --help`` stays instant); the server, torch and Kafka clients load
when the command runs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import click

from pioneer.cli.options import BROKER

if TYPE_CHECKING:  # the serving stack loads inside the command, not at import
    from streams.serving import ServingRuntime
    from streams.serving.auth import ApiKeys

SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
         "ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes in ``text``: a number with an optional unit (``512MiB``, ``2G``, ``1000000``).

    >>> parse_size("512MiB"), parse_size("2gb"), parse_size("1000")
    (536870912, 2000000000, 1000)
    """
    match = SIZE_RE.match(text)
    if match is None:
        raise click.BadParameter(f"{text!r} is not a size; use e.g. 1000000, 512MiB or 2GB")
    number, unit = match.groups()
    unit = (unit or "").lower().removesuffix("b")
    if unit not in UNITS:
        raise click.BadParameter(f"unknown size unit in {text!r}")
    return int(float(number) * UNITS[unit])


def _model_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """The model name, checked before anything uses it in a path (the spill directory)."""
    from pioneer.registry.file import NAME_RE

    if NAME_RE.fullmatch(value) is None:
        raise click.BadParameter(f"{value!r} is not a registry model name: use 1 to 128 letters, digits, '.', '_' "
                                 "or '-', starting with a letter or digit")
    return value


@click.command(context_settings={"show_default": True})
@click.option("--model", envvar="PIONEER_SERVE_MODEL", show_envvar=True, required=True, callback=_model_name,
              help="Registered model name.")
@click.option("--alias", envvar="PIONEER_SERVE_ALIAS", show_envvar=True, default="production",
              help="Registry alias to serve at start, and whose releases to follow.")
@click.option("--version", "pinned", default=None, metavar="VERSION",
              help="Serve this version id (sha256-...) and follow no releases.")
@click.option("--registry", "registry_dir", envvar="PIONEER_REGISTRY", show_envvar=True, default=None,
              help="Registry directory or s3://bucket/prefix (default: $PIONEER_HOME/registry).")
@BROKER
@click.option("--host", envvar="PIONEER_SERVE_HOST", show_envvar=True, default="127.0.0.1", help="Interface to bind.")
@click.option("--port", envvar="PIONEER_SERVE_PORT", show_envvar=True, default=8000, type=int, help="TCP port.")
@click.option("--spill-dir", envvar="PIONEER_SPILL_DIR", show_envvar=True, default=None,
              help="Where events wait while Kafka is away (default: $PIONEER_HOME/state/serve/<model>-<port>/spill). "
              "One directory per server process.")
@click.option("--spill-max-bytes", envvar="PIONEER_SPILL_MAX_BYTES", show_envvar=True, default="1GiB",
              help="Most bytes of events the spill holds; beyond it events are dropped and counted "
              "(pioneer_serving_events_dropped_total{reason=\"spill_full\"}).")
@click.option("--log-inferences/--no-log-inferences", default=True,
              help="Publish an inference log per answered input (off: no Kafka producer, feedback refused).")
@click.option("--follow/--no-follow", "follow", default=True, help="Follow the releases topic and hot-swap versions.")
@click.option("--max-batch", default=32, type=click.IntRange(1), help="Most inputs per forward pass (micro-batching).")
@click.option("--max-batch-chars", default=65_536, type=click.IntRange(1),
              help="Most characters per forward pass; a request of long texts is answered in slices, others between them.")
@click.option("--max-wait-ms", default=0.0, type=click.FloatRange(0), help="How long a request may wait for a batch to fill.")
@click.option("--load-wait-ms", default=2.0, type=click.FloatRange(0),
              help="Under load, how long a batch may wait for requests the server has just seen (clients sending "
              "their next request); fuller batches cost less CPU per input. A lone request never waits.")
@click.option("--max-batch-request", default=256, type=click.IntRange(1), help="Most inputs in one batch request.")
@click.option("--threads", default=1, type=click.IntRange(1), help="Inference threads (batches computed at once).")
@click.option("--engine", type=click.Choice(["onnx", "torch"]), default="onnx",
              help="What runs the model: onnx (ONNX Runtime fast path, same answers) or torch (as trained).")
@click.option("--engine-threads", default=None, type=click.IntRange(1),
              help="CPU threads per forward pass (default: half the CPUs, 1 to 8).")
@click.option("--delivery-timeout", default=5.0, type=click.FloatRange(0.1),
              help="Seconds Kafka has to acknowledge logs before they are spilled to disk.")
@click.option("--api-keys", "api_keys_file", envvar="PIONEER_API_KEYS_FILE", show_envvar=True, default=None,
              type=click.Path(exists=True, dir_okay=False),
              help="File of API keys, one 'KEY SCOPE[,SCOPE...]' a line; scopes: predict, feedback (or "
              "feedback:human, feedback:judge, feedback:rule), metrics. Keys also come from PIONEER_API_KEYS_<SCOPE> "
              "variables (comma-separated). Clients send 'Authorization: Bearer KEY'.")
@click.option("--insecure-no-auth", is_flag=True, default=False,
              help="Serve without API keys on an address beyond loopback (anyone who reaches it can predict and "
              "label).")
@click.option("--feedback-rate", default=50.0, type=click.FloatRange(min=0, min_open=True),
              help="Feedback accepted per second from each source (human, judge, rule); beyond it, 429.")
@click.option("--feedback-burst", default=100, type=click.IntRange(1), help="Feedback a source may send at once.")
@click.option("--max-queued-events", default=100_000, type=click.IntRange(1),
              help="Events held in memory before shipping; beyond it they are dropped and counted.")
def serve(
    model: str,
    alias: str,
    pinned: str | None,
    registry_dir: str | None,
    broker: str,
    host: str,
    port: int,
    spill_dir: str | None,
    spill_max_bytes: str,
    log_inferences: bool,
    follow: bool,
    max_batch: int,
    max_batch_chars: int,
    max_wait_ms: float,
    load_wait_ms: float,
    max_batch_request: int,
    threads: int,
    engine: str,
    engine_threads: int | None,
    delivery_timeout: float,
    api_keys_file: str | None,
    insecure_no_auth: bool,
    feedback_rate: float,
    feedback_burst: int,
    max_queued_events: int,
) -> None:
    """Serve MODEL over HTTP: predict, feedback, OpenAI-compatible chat completions (generation models),
    health, readiness and Prometheus metrics; the OpenAPI description is at /openapi.json and /docs.

    Every answer is logged to the inference-logs topic without waiting for Kafka; while the broker is away,
    logs wait on disk (up to --spill-max-bytes) and are replayed when it returns. Releases and rollbacks of
    MODEL's --alias on the releases topic are loaded, warmed up and swapped in without failing a request.

    \b
    Example:
      pioneer serve --model intents --broker 127.0.0.1:9092 --port 8000
      curl -s localhost:8000/v1/predict -H 'content-type: application/json' -d '{"text": "play some jazz"}'
    """
    from pathlib import Path

    keys = _api_keys(api_keys_file, host, insecure_no_auth)  # before anything touches the disk
    _quiet_threads()  # before torch loads

    from pioneer.registry import open_registry
    from pioneer.settings import Paths
    from streams.kafka import KafkaSettings
    from streams.serving import ServeConfig, ServingRuntime

    paths = Paths.from_env()
    uses_kafka = log_inferences or (follow and pinned is None)
    config = ServeConfig(
        model=model,
        alias=alias,
        version=pinned,
        follow_releases=follow,
        log_inferences=log_inferences,
        spill_dir=Path(spill_dir) if spill_dir else paths.state / "serve" / f"{model}-{port}" / "spill",
        spill_max_bytes=parse_size(spill_max_bytes),
        max_queued_events=max_queued_events,
        delivery_timeout=delivery_timeout,
        max_batch=max_batch,
        max_batch_chars=max_batch_chars,
        max_wait_ms=max_wait_ms,
        load_wait_ms=load_wait_ms,
        max_batch_request=max_batch_request,
        feedback_rate=feedback_rate,
        feedback_burst=feedback_burst,
        inference_threads=threads,
        engine=engine,
        engine_threads=engine_threads,
    )
    runtime = ServingRuntime(
        config,
        registry=open_registry(registry_dir),
        kafka=KafkaSettings.from_env(broker) if uses_kafka else None,
    )
    _run(runtime, keys, host=host, port=port)


def _api_keys(api_keys_file: str | None, host: str, insecure_no_auth: bool) -> ApiKeys:
    """Who may call this server; refuses to serve beyond loopback without keys unless told to."""
    from pathlib import Path

    from streams.serving.auth import ApiKeys, is_loopback

    try:
        keys = ApiKeys.load(Path(api_keys_file) if api_keys_file else None)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--api-keys") from None
    if not keys and not insecure_no_auth and not is_loopback(host):
        raise click.UsageError(
            f"--host {host} serves beyond this machine: give API keys (--api-keys FILE or PIONEER_API_KEYS_<SCOPE>) "
            "or say --insecure-no-auth"
        )
    return keys


def _quiet_threads() -> None:
    """Idle OpenMP threads sleep instead of spinning: on a small shared CPU the cores stay with the event loop
    and the other processes (docs/benchmarks.md has the measurement). Must run before torch loads."""
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _run(runtime: ServingRuntime, keys: ApiKeys, *, host: str, port: int) -> None:
    from streams.serving import create_app
    from streams.serving.server import serve as run_server
    from streams.serving.server import throttle_kafka_client_logs

    throttle_kafka_client_logs()
    config = runtime.config
    auth = f"{len(keys)} API keys" if keys else "no API keys"
    click.echo(f"serving {config.model} ({config.alias}) on http://{host}:{port} with {auth}  "
               "(docs: /docs, metrics: /metrics)", err=True)
    run_server(create_app(runtime, api_keys=keys or None), host=host, port=port)
