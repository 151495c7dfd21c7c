"""``pioneer monitor``: run a monitor worker."""

from __future__ import annotations

import click

from pioneer.cli.options import BROKER, config_default, unknown_settings


def _default(name: str):
    """A flag's default: ``PIONEER_MONITOR_<NAME>`` if set, else the config's default."""
    return config_default("PIONEER_MONITOR_", _config_class(), name)


def _config_class():
    from streams.monitor.config import MonitorConfig

    return MonitorConfig


@click.command()
@BROKER
@click.option("--group", "group_id", default=_default("group_id"), show_default="pioneer-monitor", help="Consumer group shared by the monitor's workers.")
@click.option("--stage", type=click.Choice(["all", "join", "patterns"]), default="all", show_default=True, help="Run every stage, or only the join (logs + labels -> traces; no embedder) or only the pattern stage, to scale them apart.")
@click.option("--join-batch", type=int, default=_default("join_batch"), show_default="5000", help="Records per join batch.")
@click.option("--join-window", type=float, default=_default("join_window"), show_default="900", help="Seconds an unmatched log or label waits for its other half.")
@click.option("--pass-sample-rate", type=click.FloatRange(0, 1, min_open=True), default=_default("pass_sample_rate"), show_default="0.1", help="Fraction of passing traces embedded, for each cluster's failure rate.")
@click.option("--embed-model", default=_default("embed_model"), show_default="offline all-MiniLM-L6-v2", help="sentence-transformers model id or local path.")
@click.option("--check-every", type=click.IntRange(1), default=_default("check_every"), show_default="50", help="Traces of a model between two pattern checks.")
@click.option("--check-interval", type=float, default=_default("check_interval"), show_default="1", help="Least seconds between two checks of a model (bounds the CPU).")
@click.option("--checkpoint-interval", type=float, default=_default("checkpoint_interval"), show_default="10", help="Seconds between checkpoints of the clusters.")
@click.option("--metrics-port", type=int, default=_default("metrics_port"), show_default="off", help="Serve Prometheus metrics on this port.")
@click.option("--half-life-traces", type=float, default=_default("half_life_traces"), show_default="50000", help="Traces after which a failure's weight in a cluster has halved.")
@click.option("--recent-half-life-traces", type=float, default=_default("recent_half_life_traces"), show_default="5000", help="Traces of the recent window (recent failures, growth).")
@click.option("--min-failures", type=float, default=_default("min_failures"), show_default="10", help="Recent failures a cluster needs to be an emerging pattern.")
@click.option("--min-growth", type=float, default=_default("min_growth"), show_default="2", help="Growth an emerging pattern needs (recent vs long-run failure rate).")
@click.option("--broad-failure-rate", type=click.FloatRange(0, 1, min_open=True), default=_default("broad_failure_rate"), show_default="0.3", help="Model-wide failure rate above which lift and growth are waived (a model failing everywhere); 1 turns it off.")
@click.option("--min-new-failures", type=click.IntRange(1), default=_default("min_new_failures"), show_default="25", help="New failures of the serving version that make a retrain request worth it (after a rejection too).")
@click.option("--min-failure-rate", type=click.FloatRange(0, 1, max_open=True), default=_default("min_failure_rate"), show_default="0.01", help="Failure rate the serving version must surely exceed for failures alone to request a retrain.")
@click.option("--max-requests-per-day", type=click.IntRange(1), default=_default("max_requests_per_day"), show_default="uncapped", help="Cap on retrain requests per model per day.")
@click.option("--max-trainer-share", type=click.FloatRange(0, 1, min_open=True), default=_default("max_trainer_share"), show_default="1 (uncapped)", help="Cap on the share of the trainer's time one model may take.")
@click.option("--answer-timeout", type=float, default=_default("answer_timeout"), show_default="3600", help="Seconds after which an unanswered retrain request stops holding the next one back.")
def monitor(broker: str, stage: str, **options: object) -> None:
    """Watch inference logs and labels; detect error patterns; request retraining.

    Joins logs and labels by request id, embeds the failures (and a sample of passes), clusters them
    incrementally and publishes error patterns. It requests a retrain when enough new failures have come
    since the last request and the trainer is free: for the emerging patterns when they hold most failures,
    for the failures as a whole when they spread widely, for both in between. Windows count traces, so
    the defaults hold at any traffic rate.
    Start several with the same --group to share the partitions (Apache Kafka or a real cluster).
    Stops cleanly on Ctrl-C; state lives in Kafka, so a restarted worker carries on where it stopped.
    """
    from streams.app import run_worker
    from streams.kafka import KafkaSettings
    from streams.monitor.config import MonitorConfig
    from streams.monitor.worker import build_monitor, run_join_stage

    unknown = unknown_settings("PIONEER_MONITOR_", MonitorConfig)
    if unknown:
        click.echo(f"warning: ignoring {', '.join(unknown)}: not monitor settings (see pioneer monitor --help)", err=True)
    config = MonitorConfig(**{k: v for k, v in options.items() if v is not None})
    settings = KafkaSettings.from_env(broker)
    click.echo(f"monitor '{config.group_id}' ({stage}) starting against {broker}", err=True)
    if stage == "join":
        run_join_stage(settings, config)
        return
    worker = build_monitor(settings, config, with_join=stage == "all")
    run_worker(worker.app)
