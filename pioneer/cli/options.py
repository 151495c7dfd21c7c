"""Options shared by several commands."""

from __future__ import annotations

import os

import click

from pioneer.settings import DEFAULT_BROKER

BROKER = click.option(
    "--broker",
    envvar="PIONEER_BROKER",
    default=DEFAULT_BROKER,
    show_default=True,
    show_envvar=True,
    help="Kafka bootstrap servers, host:port[,host:port]. SASL/SSL, acks and compression come from "
    "PIONEER_KAFKA_* variables (see the README).",
)

OUTPUT = click.option(
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json for scripts.",
)


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))
