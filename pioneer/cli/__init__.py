"""The ``pioneer`` command line.

The root only assembles commands; each lives in its own module and is imported when it runs, so
``pioneer --help`` and light commands never import torch or Kafka clients.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os

import click

from pioneer import __version__
from pioneer.logs import configure_logging

# name -> "module:attribute", in the order ``--help`` lists them.
COMMANDS: dict[str, str] = {
    "demo": "pioneer.cli.demo:demo",
    "broker": "pioneer.cli.broker:broker",
    "topics": "pioneer.cli.topics:topics",
    "monitor": "pioneer.cli.monitor:monitor",
    "judge": "pioneer.cli.judge:judge",
    "trainer": "pioneer.cli.trainer:trainer",
    "serve": "pioneer.cli.serve:serve",
    "train": "pioneer.cli.train:train",
    "coldstart": "pioneer.cli.coldstart:coldstart",
    "registry": "pioneer.cli.registry:registry",
    "rollback": "pioneer.cli.registry:rollback",
    "bench": "pioneer.cli.bench:bench",
}

SHORT_HELP: dict[str, str] = {
    "demo": "Run the closed loop end to end on a generated task.",
    "broker": "Run a local Kafka-protocol broker (tansu or Apache Kafka).",
    "topics": "Create or list Pioneer's topics.",
    "monitor": "Watch logs and labels; detect error patterns; request retraining.",
    "judge": "Label a sample of unlabelled traffic with a judge.",
    "trainer": "Serve retrain requests: diagnose, retrain, gate, release.",
    "serve": "Serve the production model over HTTP and log every inference.",
    "train": "Train a first model from data and register it.",
    "coldstart": "From a task description to a first gated production model.",
    "registry": "List model versions, aliases and their history.",
    "rollback": "Move a model's production alias back to its previous version.",
    "bench": "Run benchmarks (AdaptFT-Bench, deployments).",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when invoked (or when their own help is shown)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _module_exists(COMMANDS[name])]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None or not _module_exists(target):
            return None
        module, attribute = target.split(":")
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every command (torch, faust, ...): use the static short help.
        rows = [(name, SHORT_HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _module_exists(target: str) -> bool:
    return importlib.util.find_spec(target.split(":")[0]) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="pioneer")
@click.option(
    "--log-level",
    default=lambda: os.environ.get("PIONEER_LOG_LEVEL", "INFO"),
    show_default="INFO, or $PIONEER_LOG_LEVEL",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Verbosity of the structured logs.",
)
@click.option(
    "--log-format",
    default=lambda: os.environ.get("PIONEER_LOG_FORMAT", "auto"),
    show_default="auto, or $PIONEER_LOG_FORMAT",
    type=click.Choice(["auto", "json", "text"]),
    help="json lines for machines, text for people; auto picks text on a terminal.",
)
def cli(log_level: str, log_format: str) -> None:
    """Pioneer keeps small language models improving in production.

    It watches a deployed model's inference logs and labels, finds the patterns in which it fails,
    retrains it on targeted data, proves the new version is better and breaks nothing that worked,
    and publishes it to the serving processes.

    Every command that talks to Kafka takes --broker (or PIONEER_BROKER). Run
    `pioneer COMMAND --help` for a command's options.
    """
    configure_logging(level=log_level.upper(), fmt=log_format)
    logging.captureWarnings(True)


def main() -> None:
    # Before torch loads (commands import it lazily): idle OpenMP threads sleep rather than spin, which on
    # a small shared CPU is the difference between steady and erratic throughput.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    cli(prog_name="pioneer")
