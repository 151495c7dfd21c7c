"""Options shared by several commands."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

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


def config_default(prefix: str, config_class: type, name: str) -> Callable[[], Any]:
    """A flag's default: ``<prefix><NAME>`` from the environment if set, else the worker config's own default
    (one place for every default; click converts the variable's text to the option's type)."""
    field = next(f for f in dataclasses.fields(config_class) if f.name == name)
    return lambda: os.environ.get(f"{prefix}{name.upper()}", field.default)


def unknown_settings(prefix: str, config_class: type) -> list[str]:
    """``<prefix>*`` variables set in the environment that name no setting of ``config_class`` (a typo, or a
    setting that was removed), so the command can say it ignores them rather than ignore them silently."""
    known = {f"{prefix}{f.name.upper()}" for f in dataclasses.fields(config_class)}
    return sorted(name for name in os.environ if name.startswith(prefix) and name not in known)
