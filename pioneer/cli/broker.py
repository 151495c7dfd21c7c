"""``pioneer broker``: run a local Kafka-protocol broker with Pioneer's topics created."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from pioneer.settings import Paths


@click.command()
@click.option(
    "--engine",
    type=click.Choice(["tansu", "kafka"]),
    default="tansu",
    show_default=True,
    envvar="PIONEER_BROKER_ENGINE",
    show_envvar=True,
    help="tansu: embedded, memory only, starts in milliseconds (single worker). "
    "kafka: Apache Kafka in KRaft mode, persistent, the reference (needs Java 17+ and Maven the first time).",
)
@click.option("--port", type=int, default=9092, show_default=True, help="Port on 127.0.0.1 to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="kafka engine: where its data lives across restarts [default: $PIONEER_HOME/kafka/<port>].",
)
@click.option("--topics/--no-topics", default=True, show_default=True, help="Create Pioneer's topics once it answers.")
@click.option("--fetch-only", is_flag=True, help="kafka engine: download the jars into the cache and exit.")
def broker(engine: str, port: int, host: str, data_dir: Path | None, topics: bool, fetch_only: bool) -> None:
    """Run a local broker on HOST:PORT until Ctrl-C.

    It waits until the broker answers, creates Pioneer's topics (idempotently), prints the address
    to pass as --broker / PIONEER_BROKER, and stops the broker cleanly on Ctrl-C or SIGTERM.
    """
    import asyncio

    from streams.admin import ensure_topics
    from streams.brokers import ApacheKafkaBroker, BrokerError, TansuBroker, fetch_kafka_jars
    from streams.kafka import KafkaSettings

    paths = Paths.from_env()
    if fetch_only:
        if engine != "kafka":
            raise click.UsageError("--fetch-only applies to --engine kafka")
        click.echo(f"Kafka jars in {fetch_kafka_jars(paths.cache)}")
        return
    if engine == "kafka":
        local = ApacheKafkaBroker(
            host=host, port=port, data_dir=data_dir or paths.home / "kafka" / str(port), cache_dir=paths.cache
        )
    else:
        local = TansuBroker(host=host, port=port, log_file=paths.home / "logs" / f"tansu-{port}.log")
    try:
        seconds = local.start()
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        click.echo(f"{engine} broker answering on {local.bootstrap} after {seconds:.2f}s (pid {local.pid})")
        if topics:
            result = asyncio.run(ensure_topics(KafkaSettings.from_env(local.bootstrap)))
            click.echo(f"topics: {len(result.created)} created, {len(result.existing)} already there")
        click.echo(f"export PIONEER_BROKER={local.bootstrap}    # Ctrl-C stops the broker")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        code = local.wait()
        raise click.ClickException(f"{engine} broker exited by itself with code {code}")
    except KeyboardInterrupt:
        click.echo("stopping the broker…")
    finally:
        local.stop()
