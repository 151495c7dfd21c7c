"""``pioneer topics``: create and list Pioneer's topics."""

from __future__ import annotations

import asyncio

import click
import orjson

from pioneer.cli.options import BROKER, OUTPUT


@click.group()
def topics() -> None:
    """Pioneer's topic catalogue on a broker."""


@topics.command("create")
@BROKER
def create(broker: str) -> None:
    """Create every topic of the catalogue that is missing (safe to repeat)."""
    from streams.admin import ensure_topics
    from streams.kafka import KafkaSettings

    result = asyncio.run(ensure_topics(KafkaSettings.from_env(broker)))
    for name in result.created:
        click.echo(f"created  {name}")
    click.echo(f"{len(result.created)} created, {len(result.existing)} already existed")


@topics.command("list")
@BROKER
@OUTPUT
def list_(broker: str, output: str) -> None:
    """Show the catalogue: names, partitions, keys, cleanup policy, and whether each exists on the broker."""
    from streams.admin import list_topics
    from streams.kafka import KafkaSettings

    settings = KafkaSettings.from_env(broker)
    on_broker = asyncio.run(list_topics(settings))
    rows = [
        {
            "topic": spec.name,
            "partitions": spec.partitions,
            "key": spec.key,
            "cleanup": spec.cleanup_policy,
            "retention_days": None if spec.cleanup_policy == "compact" else spec.retention_ms / 86_400_000,
            "events": ",".join(spec.event_types),
            "exists": spec.name in on_broker,
        }
        for spec in settings.catalogue
    ]
    if output == "json":
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"{'topic':30} {'parts':>5} {'key':12} {'cleanup':8} {'exists':6} events")
    for r in rows:
        click.echo(f"{r['topic']:30} {r['partitions']:>5} {r['key']:12} {r['cleanup']:8} {str(r['exists']):6} {r['events']}")
