"""``pioneer demo``: the closed loop end to end, with nothing to set up."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--dataset", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Your labelled dataset (CLINC150 JSON, or CSV/JSONL with text and label) instead of the generated task.")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=Path(".pioneer-demo"), show_default=True,
              help="Where the demo keeps its broker logs, registry, traces and report (wiped at start).")
@click.option("--rate", type=float, default=6.0, show_default=True, help="Requests per second.")
@click.option("--drift-at", type=float, default=40.0, show_default=True, help="Seconds before the blind spot appears.")
@click.option("--after-release", type=float, default=60.0, show_default=True, help="Seconds of traffic after the release.")
@click.option("--deadline", type=float, default=480.0, show_default=True, help="Stop the traffic after this many seconds, released or not.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--labels", type=click.Choice(["human", "judge"]), default="human", show_default=True,
              help="Who labels the traffic: a simulated person, or no one: `pioneer judge` samples the logs and a "
                   "teacher model (trained on its own pool) labels them. Judge mode needs the generated task.")
def demo(dataset: Path | None, home: Path, rate: float, drift_at: float, after_release: float, deadline: float,
         seed: int, labels: str) -> None:
    """Run the closed loop end to end on a generated task.

    Starts the embedded broker, trains a first intent classifier that has a blind spot, starts the
    server, the monitor and the trainer, and replays traffic through the server with delayed labels.
    Partway through, users start asking for money transfers in a way the model never saw: you watch the
    failures cluster, a pattern emerge, a retrain get requested, candidates train, the gate decide and
    the server swap to the released version. Ends with a before/after summary and a report with plots.
    Takes a few minutes on a laptop.
    """
    import logging

    from streams.demo.run import DemoOptions, run_demo

    # The demo speaks for itself; library logs go to the processes' log files, not to this terminal.
    if logging.getLogger().level < logging.WARNING:
        logging.getLogger().setLevel(logging.WARNING)

    if labels == "judge" and dataset is not None:
        raise click.UsageError("--labels judge needs the generated task (its teacher is trained on the generator); "
                               "drop --dataset")
    result = run_demo(
        DemoOptions(home=home.resolve(), dataset=dataset, rate=rate, drift_at=drift_at, after_release=after_release,
                    deadline=deadline, seed=seed, labels=labels),
        say=lambda line: click.echo(line),
    )
    if result.final_version is None:
        raise click.ClickException("no release happened before the deadline; see the logs under " + str(home / "logs"))
